package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// startBroker runs an embedded mochi broker on a free port of 127.0.0.1
// and returns its URL.
func startBroker(t testing.TB) string {
	t.Helper()
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatalf("auth hook: %v", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	// AddListener binds the port, so Address is the real one after it.
	if err := srv.AddListener(tcp); err != nil {
		t.Fatalf("listener: %v", err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		// mochi v2.7.9 can deadlock in Close when a client's session is
		// still ending (Clients.GetByListener read-locks twice while the
		// ending session waits to write-lock), so let the clients the
		// test disconnected go first.
		for deadline := time.Now().Add(3 * time.Second); srv.Clients.Len() > 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		_ = srv.Close()
	})
	return "tcp://" + tcp.Address()
}

type message struct {
	topic    string
	payload  []byte
	retained bool
}

// subscriber records what a paho client receives.
type subscriber struct {
	mu   sync.Mutex
	msgs []message
}

func subscribe(t *testing.T, broker, filter string) *subscriber {
	t.Helper()
	s := &subscriber{}
	o := mqtt.NewClientOptions().AddBroker(broker).
		SetClientID(fmt.Sprintf("test-sub-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetAutoReconnect(false)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	tok := c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.msgs = append(s.msgs, message{m.Topic(), bytes.Clone(m.Payload()), m.Retained()})
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return s
}

// waitFor waits until n messages arrived, then a little longer to catch
// any extra one, and returns them all.
func (s *subscriber) waitFor(t *testing.T, n int) []message {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		got := len(s.msgs)
		s.mu.Unlock()
		if got >= n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]message(nil), s.msgs...)
}

// wireBatch is the JSON batch of docs/protocol.md, with pointers so a
// missing field shows.
type wireBatch struct {
	TS       json.RawMessage `json:"ts"`
	Seq      *uint64         `json:"seq"`
	Readings *[]wireReading  `json:"readings"`
}

type wireReading struct {
	Sensor  *string         `json:"sensor"`
	Value   *float64        `json:"value"`
	TS      json.RawMessage `json:"ts"`
	Quality *string         `json:"quality"`
}

// strictDecode accepts exactly what docs/protocol.md allows.
func strictDecode(payload []byte) (wireBatch, error) {
	var b wireBatch
	if err := json.Unmarshal(payload, &b); err != nil {
		return b, err
	}
	if b.Readings == nil {
		return b, errors.New("no readings array")
	}
	if len(*b.Readings) == 0 {
		return b, errors.New("empty readings")
	}
	batchTS := b.TS != nil && validTS(b.TS)
	if b.TS != nil && !batchTS {
		return b, fmt.Errorf("bad ts %s", b.TS)
	}
	for i, r := range *b.Readings {
		switch {
		case r.Sensor == nil || *r.Sensor == "":
			return b, fmt.Errorf("reading %d: no sensor", i)
		case r.Value == nil:
			return b, fmt.Errorf("reading %d: no value", i)
		case r.TS == nil && !batchTS:
			return b, fmt.Errorf("reading %d: no ts", i)
		case r.TS != nil && !validTS(r.TS):
			return b, fmt.Errorf("reading %d: bad ts %s", i, r.TS)
		case r.Quality != nil && *r.Quality != "good" && *r.Quality != "uncertain" && *r.Quality != "bad":
			return b, fmt.Errorf("reading %d: bad quality %q", i, *r.Quality)
		}
	}
	return b, nil
}

func validTS(raw json.RawMessage) bool {
	var ms int64
	if json.Unmarshal(raw, &ms) == nil {
		return true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return false
	}
	_, err := time.Parse(time.RFC3339, s)
	return err == nil
}

// topicGateway splits riskmon/v1/{site}/{gateway}/readings.
func topicGateway(t *testing.T, topic string) (site, gateway string) {
	t.Helper()
	parts := strings.Split(topic, "/")
	if len(parts) != 5 || parts[0] != "riskmon" || parts[1] != "v1" || parts[4] != "readings" {
		t.Fatalf("unexpected topic %q", topic)
	}
	return parts[2], parts[3]
}

// testLogger shows warnings (stalled or failed publishes) in the test
// output, where they explain a slow or failing run.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testContext bounds a run: a publish that is never acknowledged makes
// the run wait, and a test should fail rather than hang.
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
