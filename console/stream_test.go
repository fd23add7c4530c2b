package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	name, id, data string
}

// openStream connects to the stream of srv with the given Last-Event-ID
// and query, and returns a channel of its events. The connection closes
// when the test ends.
func openStream(t *testing.T, srv *httptest.Server, lastID, query string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/stream"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("stream: status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.name != "" {
					out <- e
				}
				e = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				e.name = line[len("event: "):]
			case strings.HasPrefix(line, "id: "):
				e.id = line[len("id: "):]
			case strings.HasPrefix(line, "data: "):
				e.data = line[len("data: "):]
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return out
}

func next(t *testing.T, events <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("stream ended")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no stream event within 5s")
	}
	return sseEvent{}
}

// nextNamed skips events of other names, such as reading updates.
func nextNamed(t *testing.T, events <-chan sseEvent, name string) sseEvent {
	t.Helper()
	for {
		if e := next(t, events); e.name == name {
			return e
		}
	}
}

func alertOf(t *testing.T, e sseEvent) alerting.Event {
	t.Helper()
	var a alerting.Event
	if err := json.Unmarshal([]byte(e.data), &a); err != nil {
		t.Fatalf("alert event %q: %v", e.data, err)
	}
	return a
}

func reasonOf(t *testing.T, e sseEvent) string {
	t.Helper()
	var r struct{ Reason string }
	if err := json.Unmarshal([]byte(e.data), &r); err != nil {
		t.Fatalf("resync event %q: %v", e.data, err)
	}
	return r.Reason
}

func TestStreamDeliversEvents(t *testing.T) {
	h := NewHub(testRegistry(t), HubOptions{})
	srv := httptest.NewServer(Handler(h, Options{}))
	t.Cleanup(srv.Close)

	events := openStream(t, srv, "", "?readings=none")
	first := next(t, events)
	if first.name != eventResync || reasonOf(t, first) != resyncNew || first.id != h.eventID(0) {
		t.Fatalf("first event = %+v, want resync new at id 0", first)
	}
	h.Event(ev("a", alerting.EventFired, sensors.LevelOrange, "plant-a", "gas-1", 1))
	got := next(t, events)
	if a := alertOf(t, got); got.name != eventAlert || got.id != h.eventID(1) || a.AlertID != "a" || a.Type != alerting.EventFired {
		t.Fatalf("got %+v", got)
	}
	if !strings.Contains(got.data, `"color":"orange"`) {
		t.Errorf("alert event lacks its colour: %s", got.data)
	}
}

func TestStreamResume(t *testing.T) {
	// Six events into a ring of four: events 3-6 can be replayed.
	setup := func(t *testing.T) (*Hub, *httptest.Server) {
		h := NewHub(testRegistry(t), HubOptions{Ring: 4})
		srv := httptest.NewServer(Handler(h, Options{}))
		t.Cleanup(srv.Close)
		for i := range 6 {
			h.Event(ev("a", alerting.EventEscalated, sensors.LevelOrange, "plant-a", "gas-1", i))
		}
		return h, srv
	}
	for _, tc := range []struct {
		name   string
		lastID func(h *Hub) string
		want   []uint64 // seqs replayed; 0 for a too_old resync
	}{
		{"caught up", func(h *Hub) string { return h.eventID(6) }, nil},
		{"replay the rest", func(h *Hub) string { return h.eventID(4) }, []uint64{5, 6}},
		{"replay the whole ring", func(h *Hub) string { return h.eventID(2) }, []uint64{3, 4, 5, 6}},
		{"fell out of the ring", func(h *Hub) string { return h.eventID(1) }, []uint64{0}},
		{"from the future", func(h *Hub) string { return h.eventID(7) }, []uint64{0}},
		{"from another process", func(*Hub) string { return "x0-5" }, []uint64{0}},
		{"garbage", func(*Hub) string { return "hello" }, []uint64{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, srv := setup(t)
			events := openStream(t, srv, tc.lastID(h), "?readings=none")
			for _, want := range tc.want {
				e := next(t, events)
				if want == 0 {
					if e.name != eventResync || reasonOf(t, e) != resyncTooOld || e.id != h.eventID(6) {
						t.Errorf("got %+v, want a too_old resync at the newest id", e)
					}
					continue
				}
				if e.name != eventAlert || e.id != h.eventID(want) {
					t.Errorf("got %+v, want event %d replayed", e, want)
				}
			}
			// Then live events follow without a gap.
			h.Event(ev("b", alerting.EventFired, sensors.LevelBlue, "plant-a", "gas-2", 9))
			e := next(t, events)
			if e.name != eventAlert || e.id != h.eventID(7) || alertOf(t, e).AlertID != "b" {
				t.Fatalf("live event = %+v", e)
			}
		})
	}
}

func TestStreamQueryLastEventID(t *testing.T) {
	h := NewHub(testRegistry(t), HubOptions{})
	srv := httptest.NewServer(Handler(h, Options{}))
	t.Cleanup(srv.Close)
	h.Event(ev("a", alerting.EventFired, sensors.LevelOrange, "plant-a", "gas-1", 1))
	h.Event(ev("a", alerting.EventResolved, sensors.LevelOrange, "plant-a", "gas-1", 2))
	events := openStream(t, srv, "", "?readings=none&last_event_id="+h.eventID(1))
	if e := next(t, events); e.id != h.eventID(2) || alertOf(t, e).Type != alerting.EventResolved {
		t.Fatalf("got %+v, want the resolve replayed", e)
	}
}

func TestStreamReadings(t *testing.T) {
	h := NewHub(testRegistry(t), HubOptions{})
	srv := httptest.NewServer(Handler(h, Options{ReadingsEvery: 10 * time.Millisecond}))
	t.Cleanup(srv.Close)
	events := openStream(t, srv, "", "?site=plant-a")
	nextNamed(t, events, eventResync)
	h.Readings([]sensors.Reading{
		{Site: "mine-b", Sensor: "ch4-1", Value: 0.4, Time: t0},
		{Site: "plant-a", Sensor: "gas-1", Value: 7, Time: t0},
	})
	e := nextNamed(t, events, eventReadings)
	var got []readingUpdate
	if err := json.Unmarshal([]byte(e.data), &got); err != nil {
		t.Fatal(err)
	}
	if e.id != "" || len(got) != 1 || got[0].Sensor != "gas-1" || got[0].Value != 7 || got[0].Quality != "good" {
		t.Errorf("readings event %+v: %+v; want only plant-a/gas-1 and no id", e, got)
	}
}

func TestSlowSubscriberDoesNotBlockEvent(t *testing.T) {
	h := NewHub(testRegistry(t), HubOptions{SubscriberBuffer: 4})
	sub, _, _, _ := h.subscribe("") // never read
	defer h.unsubscribe(sub)

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			h.Event(ev("a", alerting.EventEscalated, sensors.LevelOrange, "plant-a", "gas-1", i))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Hub.Event blocked on a subscriber that does not read")
	}
	select {
	case <-sub.gone:
	default:
		t.Fatal("slow subscriber was not dropped")
	}
	if st := h.Stats(); st.Dropped != 1 || st.Subscribers != 0 || st.Events != 1000 {
		t.Errorf("stats = %+v", st)
	}
}

// stuckWriter is a ResponseWriter whose flushes after the first block until
// released, like a browser that stopped reading.
type stuckWriter struct {
	header  http.Header
	ready   chan struct{} // closed at the first flush
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
	flushes int
}

func (w *stuckWriter) Header() http.Header { return w.header }
func (w *stuckWriter) WriteHeader(int)     {}
func (w *stuckWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *stuckWriter) Flush() {
	w.mu.Lock()
	w.flushes++
	n := w.flushes
	w.mu.Unlock()
	if n == 1 {
		close(w.ready)
		return
	}
	<-w.release
}

func (w *stuckWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestStreamOverflowTellsResync(t *testing.T) {
	h := NewHub(testRegistry(t), HubOptions{SubscriberBuffer: 2})
	srv := Handler(h, Options{})
	w := &stuckWriter{header: http.Header{}, ready: make(chan struct{}), release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequest(http.MethodGet, "/api/v1/stream?readings=none", nil).WithContext(ctx)
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeHTTP(w, req)
	}()
	<-w.ready

	start := time.Now()
	for i := range 50 {
		h.Event(ev("a", alerting.EventEscalated, sensors.LevelOrange, "plant-a", "gas-1", i))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("50 events took %v with a stuck browser", d)
	}
	close(w.release)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(w.String(), `"reason":"overflow"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no overflow resync; stream so far:\n%s", w.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// After the resync the stream carries on with live events.
	h.Event(ev("b", alerting.EventFired, sensors.LevelRed, "plant-a", "gas-2", 60))
	for !strings.Contains(w.String(), `"alert_id":"b"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no live event after resync; stream so far:\n%s", w.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-served
	if st := h.Stats(); st.Subscribers != 0 || st.Dropped != 1 {
		t.Errorf("stats after close = %+v", st)
	}
}

func TestHubCloseEndsStreams(t *testing.T) {
	h := NewHub(testRegistry(t), HubOptions{})
	srv := httptest.NewServer(Handler(h, Options{}))
	t.Cleanup(srv.Close)
	events := openStream(t, srv, "", "?readings=none")
	nextNamed(t, events, eventResync)
	h.Close()
	select {
	case _, ok := <-events:
		if ok {
			t.Fatal("event after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open 5s after Hub.Close")
	}
}
