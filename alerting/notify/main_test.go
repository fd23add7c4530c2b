package notify

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/internal/metrictest"
	"github.com/riskmon/riskmon/sensors"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testNow is the pinned wall clock of the tests.
var testNow = time.Date(2026, 11, 28, 10, 2, 3, 456_000_000, time.UTC)

// firedEvent is the running example of the docs: 27.3 %LEL at an orange
// setpoint of 25.
func firedEvent() alerting.Event {
	return alerting.Event{
		AlertID: "ed7e423dfd78d663", Rule: "combustible_gas_high", Site: "hz-01", Sensor: "GT-101",
		Kind: "combustible_gas", Unit: "%LEL", Type: alerting.EventFired,
		Level: sensors.LevelOrange, Value: 27.3, Setpoint: 25,
		At: testNow.Add(-time.Second), StartsAt: testNow.Add(-5 * time.Second),
		Message: "combustible_gas GT-101 at hz-01: 27.3 %LEL >= 25 (level 2 orange)",
	}
}

func resolvedEvent() alerting.Event {
	ev := firedEvent()
	ev.Type, ev.Level, ev.PrevLevel = alerting.EventResolved, sensors.LevelNone, sensors.LevelOrange
	ev.Value, ev.Setpoint = 20.1, 23
	ev.At = testNow
	ev.Message = "combustible_gas GT-101 at hz-01: 20.1 %LEL < 23 (resolved, was level 2 orange)"
	return ev
}

// fastRetry retries quickly so tests take milliseconds, with a dead
// letter in the test's temp dir.
func fastRetry(t *testing.T) RetryOptions {
	return RetryOptions{
		Timeout: 2 * time.Second, MaxElapsed: 3 * time.Second,
		InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond,
		DeadLetter: filepath.Join(t.TempDir(), "dead.jsonl"),
	}
}

func testDeps(reg prometheus.Registerer) Deps {
	return Deps{Registerer: reg, Now: func() time.Time { return testNow }}
}

// answer is one canned response of a fakeServer.
type answer struct {
	status int
	header map[string]string
	body   string
}

// recorded is one request a fakeServer received.
type recorded struct {
	URL    string
	Header http.Header
	Body   []byte
}

// fakeServer answers with the given answers in turn, repeating the last,
// and records every request.
type fakeServer struct {
	*httptest.Server
	mu       sync.Mutex
	answers  []answer
	requests []recorded
}

func newFakeServer(t *testing.T, answers ...answer) *fakeServer {
	t.Helper()
	f := &fakeServer{answers: answers}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, recorded{URL: r.URL.String(), Header: r.Header.Clone(), Body: body})
		a := f.answers[min(len(f.requests), len(f.answers))-1]
		f.mu.Unlock()
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) got() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

// metricValue reads one series of g (metrictest.Value).
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	return metrictest.Value(t, g, name, labels)
}

// readDeadLetters returns the entries of a dead-letter file; none when
// the file does not exist.
func readDeadLetters(t *testing.T, path string) []DeadLetterEntry {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []DeadLetterEntry
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var e DeadLetterEntry
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("dead letter: %v", err)
		}
		out = append(out, e)
	}
	return out
}
