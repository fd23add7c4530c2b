package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/riskmon/riskmon/internal/testenv"
	"github.com/riskmon/riskmon/protocol"
	"github.com/riskmon/riskmon/protocol/sparkplug"
)

// TestCollectorPrimaryHostState runs the collector as a Sparkplug Primary
// Host against Mosquitto: its STATE birth is retained with the timestamp
// of its will; an offline STATE of an earlier connection arriving while it
// is connected is answered with online at once; a clean stop leaves
// offline retained, with the same timestamp. It holds whether or not the
// configured topics cover the STATE topic.
func TestCollectorPrimaryHostState(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs a real broker")
	}
	b := testenv.Mosquitto(t)
	for i, topics := range [][]string{nil, {protocol.ReadingsFilter}} {
		t.Run(fmt.Sprintf("topics %v", topics), func(t *testing.T) {
			primaryHostState(t, b.URL, fmt.Sprintf("riskmon-host-%d", i), topics)
		})
	}
}

func primaryHostState(t *testing.T, brokerURL, host string, topics []string) {
	var (
		mu     sync.Mutex
		states []sparkplug.HostState
	)
	watch := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("state-watcher-" + host))
	if tok := watch.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer watch.Disconnect(50)
	if tok := watch.Subscribe(sparkplug.StateTopic(host), 1, func(_ mqtt.Client, m mqtt.Message) {
		st, err := sparkplug.ParseHostState(m.Payload())
		if err != nil {
			t.Errorf("STATE %q: %v", m.Payload(), err)
			return
		}
		mu.Lock()
		states = append(states, st)
		mu.Unlock()
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	last := func() (sparkplug.HostState, int) {
		mu.Lock()
		defer mu.Unlock()
		if len(states) == 0 {
			return sparkplug.HostState{}, 0
		}
		return states[len(states)-1], len(states)
	}

	log := slog.New(slog.DiscardHandler)
	m := NewMetrics(nil)
	dl, _ := OpenDeadLetter(DeadLetterOptions{})
	c := NewCollector(CollectorOptions{Broker: brokerURL, ClientID: "collector-" + host, SparkplugHostID: host, Topics: topics}, testRegistry(t), Limits{},
		NewRejecter(m, dl, log, time.Minute), m, nil, nil, nil, log, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, 10*time.Second, "STATE online", func() bool { st, _ := last(); return st.Online })
	birth, _ := last()
	if birth.Timestamp != c.stateMS.Load() {
		t.Errorf("birth timestamp %d, will timestamp %d: they must match", birth.Timestamp, c.stateMS.Load())
	}

	// A late will of an earlier connection overwrites the retained STATE.
	if tok := watch.Publish(sparkplug.StateTopic(host), 1, true, sparkplug.StatePayload(false, time.UnixMilli(birth.Timestamp-60_000))); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	waitFor(t, 10*time.Second, "STATE online again", func() bool { st, n := last(); return st.Online && n >= 3 })

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.Disconnect()
	waitFor(t, 10*time.Second, "STATE offline", func() bool { st, _ := last(); return !st.Online })
	if st, _ := last(); st.Timestamp != birth.Timestamp {
		t.Errorf("offline STATE timestamp %d, want the connection's %d", st.Timestamp, birth.Timestamp)
	}
	// What an edge node connecting now reads: offline, retained.
	got := make(chan sparkplug.HostState, 1)
	late := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("late-edge-" + host))
	if tok := late.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer late.Disconnect(50)
	late.Subscribe(sparkplug.StateTopic(host), 1, func(_ mqtt.Client, msg mqtt.Message) {
		if st, err := sparkplug.ParseHostState(msg.Payload()); err == nil && msg.Retained() {
			select {
			case got <- st:
			default:
			}
		}
	})
	select {
	case st := <-got:
		if st.Online {
			t.Error("the retained STATE reads online after riskmon stopped")
		}
	case <-time.After(5 * time.Second):
		t.Error("no retained STATE for an edge node connecting after riskmon stopped")
	}
}

func TestFilterMatches(t *testing.T) {
	for _, c := range []struct {
		filter, topic string
		want          bool
	}{
		{"spBv1.0/#", "spBv1.0/STATE/h", true},
		{"spBv1.0/STATE/+", "spBv1.0/STATE/h", true},
		{"spBv1.0/STATE/h", "spBv1.0/STATE/h", true},
		{"spBv1.0/+/NDATA/#", "spBv1.0/STATE/h", false},
		{"riskmon/v1/+/+/readings", "spBv1.0/STATE/h", false},
		{"#", "spBv1.0/STATE/h", true},
		{"spBv1.0/STATE", "spBv1.0/STATE/h", false},
		{"spBv1.0/STATE/h/#", "spBv1.0/STATE/h", true},
		{"spBv1.0/STATE/h/x", "spBv1.0/STATE/h", false},
	} {
		if got := filterMatches(c.filter, c.topic); got != c.want {
			t.Errorf("filterMatches(%q, %q) = %v, want %v", c.filter, c.topic, got, c.want)
		}
	}
}
