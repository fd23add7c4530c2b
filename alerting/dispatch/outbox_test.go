package dispatch

import (
	"context"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/store"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The outbox promises one notification per change across restarts: what
// was waiting at shutdown is sent after it, and a change seen again (a
// redelivered reading, a replay) is not sent twice.
func TestOutboxAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	// First life: a notifier that never completes, then a shutdown.
	stuck := &recorder{name: "pager", gate: make(chan struct{})}
	d, err := NewDispatcher([]Notifier{stuck}, DispatcherOptions{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	wait := run(t, d)
	for i := range 3 {
		d.Emit(idEvent(i))
	}
	d.Emit(idEvent(1)) // the same change again
	if err := closeWithin(t, d, 200*time.Millisecond); err == nil {
		t.Fatal("close with a stuck notifier reported everything delivered")
	}
	wait()
	if got := stuck.got(); len(got) != 0 {
		t.Fatalf("stuck notifier delivered %v", got)
	}
	st.Close()

	// Second life: the waiting notifications go out once, in order, and
	// the same changes emitted again are refused as duplicates.
	st, err = store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := &recorder{name: "pager"}
	reg := prometheus.NewRegistry()
	d, err = NewDispatcher([]Notifier{rec}, DispatcherOptions{Store: st, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	wait = run(t, d)
	d.Emit(idEvent(0))
	d.Emit(idEvent(3)) // new
	if err := closeWithin(t, d, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	wait()
	if got, want := rec.got(), []string{"a0", "a1", "a2", "a3"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if n := testutil.ToFloat64(d.m.restored); n != 3 {
		t.Fatalf("restored %v, want 3", n)
	}
	if n := testutil.ToFloat64(d.m.suppressed.WithLabelValues("pager", "duplicate")); n != 1 {
		t.Fatalf("duplicates %v, want 1", n)
	}

	// Third life: nothing left to send.
	rec3 := &recorder{name: "pager"}
	d, _ = NewDispatcher([]Notifier{rec3}, DispatcherOptions{Store: st})
	wait = run(t, d)
	if err := closeWithin(t, d, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	wait()
	if got := rec3.got(); len(got) != 0 {
		t.Fatalf("third start resent %v", got)
	}
}

func TestOutboxSuppression(t *testing.T) {
	ev := idEvent(1)
	tests := []struct {
		name string
		edit func(*alerting.Event)
		sent bool
	}{
		{"plain", func(*alerting.Event) {}, true},
		{"late is still notified", func(e *alerting.Event) { e.Late = true }, true},
		{"shelved", func(e *alerting.Event) { e.Shelved = "s1" }, false},
		{"planned", func(e *alerting.Event) { e.Planned = true }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := store.Open(filepath.Join(t.TempDir(), "alerts.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			rec := &recorder{name: "n"}
			d, _ := NewDispatcher([]Notifier{rec}, DispatcherOptions{Store: st})
			wait := run(t, d)
			e := ev
			tt.edit(&e)
			d.Emit(e)
			if err := d.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			wait()
			if got := len(rec.got()) == 1; got != tt.sent {
				t.Fatalf("sent = %v, want %v", got, tt.sent)
			}
		})
	}
}

// Two changes of one alert have distinct keys; a repeat of one has its key.
func TestEventKey(t *testing.T) {
	base := idEvent(1)
	other := func(f func(*alerting.Event)) alerting.Event { e := base; f(&e); return e }
	distinct := []alerting.Event{
		base,
		other(func(e *alerting.Event) { e.Type = alerting.EventEscalated }),
		other(func(e *alerting.Event) { e.Level++ }),
		other(func(e *alerting.Event) { e.At = e.At.Add(time.Nanosecond) }),
		other(func(e *alerting.Event) { e.AlertID = "b" }),
		other(func(e *alerting.Event) { e.Type, e.By = alerting.EventAcknowledged, "li" }),
		other(func(e *alerting.Event) { e.Type, e.By = alerting.EventAcknowledged, "wang" }),
	}
	seen := map[string]int{}
	for i, e := range distinct {
		if j, ok := seen[e.Key()]; ok {
			t.Fatalf("events %d and %d share key %q", j, i, e.Key())
		}
		seen[e.Key()] = i
	}
	again := base
	again.Message, again.Value = "redelivered", 99
	if again.Key() != base.Key() {
		t.Fatal("the same change has a different key")
	}
}

func TestOutboxPrune(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "alerts.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Unix(1764345600, 0)
	now := t0
	rec := &recorder{name: "n"}
	d, _ := NewDispatcher([]Notifier{rec}, DispatcherOptions{Store: st, SentRetention: time.Hour, Now: func() time.Time { return now }})
	wait := run(t, d)
	d.Emit(idEvent(1))
	deadline := time.Now().Add(5 * time.Second)
	for len(rec.got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	d.Emit(idEvent(1)) // within retention: a duplicate
	now = t0.Add(2 * time.Hour)
	d.Prune()
	d.Emit(idEvent(1)) // the key was forgotten: sent again
	if err := closeWithin(t, d, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	wait()
	if got := rec.got(); len(got) != 2 {
		t.Fatalf("delivered %v, want a1 twice (once before the prune, once after)", got)
	}
}

// BenchmarkOutboxEmit is the cost of making one alert event durable for
// two notifiers: serial (one engine shard raising alerts one after
// another) and parallel (many shards at once, sharing commits).
func BenchmarkOutboxEmit(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			st, err := store.Open(filepath.Join(b.TempDir(), "alerts.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			d, _ := NewDispatcher([]Notifier{&recorder{name: "a"}, &recorder{name: "b"}}, DispatcherOptions{Store: st, QueueSize: 1 << 20})
			go d.Run(context.Background())
			// Draining the queues is the notifiers' time, not Emit's.
			defer func() { b.StopTimer(); d.Close(context.Background()) }()
			ev := idEvent(0)
			var n atomic.Int64
			b.ResetTimer()
			if !parallel {
				for i := 0; i < b.N; i++ {
					e := ev
					e.At = e.At.Add(time.Duration(n.Add(1)))
					d.Emit(e)
				}
				return
			}
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e := ev
					e.At = e.At.Add(time.Duration(n.Add(1)))
					d.Emit(e)
				}
			})
		})
	}
}

// A restart that finds more waiting than a queue holds sends them all:
// the drop-oldest rule is for live floods, not for what is already owed.
func TestOutboxBacklogLargerThanQueue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	stuck := &recorder{name: "pager", gate: make(chan struct{})}
	d, _ := NewDispatcher([]Notifier{stuck}, DispatcherOptions{Store: st, QueueSize: 8})
	wait := run(t, d)
	for i := range 5 {
		d.Emit(idEvent(i))
	}
	_ = closeWithin(t, d, 100*time.Millisecond)
	wait()
	st.Close()

	st, err = store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := &recorder{name: "pager"}
	d, err = NewDispatcher([]Notifier{rec}, DispatcherOptions{Store: st, QueueSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	wait = run(t, d)
	if err := closeWithin(t, d, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	wait()
	if got, want := rec.got(), []string{"a0", "a1", "a2", "a3", "a4"}; !slices.Equal(got, want) {
		t.Fatalf("after the restart delivered %v, want %v", got, want)
	}
}

// A notification whose send had begun when the process stopped is sent
// again after the restart and counted as a re-send (the receiver may have
// it); one that was still waiting its turn is sent without being counted.
func TestOutboxCountsResends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	stuck := &recorder{name: "pager", gate: make(chan struct{}), started: make(chan string, 4)}
	d, err := NewDispatcher([]Notifier{stuck}, DispatcherOptions{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	wait := run(t, d)
	d.Emit(idEvent(0))
	d.Emit(idEvent(1))
	if id := <-stuck.started; id != "a0" {
		t.Fatalf("first send %s, want a0", id)
	}
	if err := closeWithin(t, d, 100*time.Millisecond); err == nil {
		t.Fatal("close with a send in flight reported everything delivered")
	}
	wait()
	st.Close()

	st, err = store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := &recorder{name: "pager"}
	d, err = NewDispatcher([]Notifier{rec}, DispatcherOptions{Store: st, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	wait = run(t, d)
	if err := closeWithin(t, d, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	wait()
	if got := rec.got(); !slices.Equal(got, []string{"a0", "a1"}) {
		t.Fatalf("sent %v after the restart, want a0 and a1", got)
	}
	if n := testutil.ToFloat64(d.m.resent.WithLabelValues("pager")); n != 1 {
		t.Fatalf("re-sends counted %v, want 1 (a0 alone had begun)", n)
	}
	if n := testutil.ToFloat64(d.m.restored); n != 2 {
		t.Fatalf("restored %v, want 2", n)
	}
}

// triedCounter is an outbox that counts the commits a send's beginning
// costs on its own.
type triedCounter struct {
	*store.Store
	tried atomic.Int32
}

func (c *triedCounter) Tried(notifier, key string) error {
	c.tried.Add(1)
	return c.Store.Tried(notifier, key)
}

// TestOutboxBeginsIdleSendInEnqueue: a notification for a notifier with
// nothing queued and nothing in flight is recorded as begun in the commit
// that enqueues it, so its page waits for one commit fewer; one queued
// behind a send in flight gets its own record as its send begins. Either
// way a restart finds it begun.
func TestOutboxBeginsIdleSendInEnqueue(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "alerts.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ob := &triedCounter{Store: st}
	slow := &recorder{name: "pager", gate: make(chan struct{}), started: make(chan string, 4)}
	d, err := NewDispatcher([]Notifier{slow}, DispatcherOptions{Store: ob})
	if err != nil {
		t.Fatal(err)
	}
	wait := run(t, d)
	d.Emit(idEvent(0)) // the notifier is idle
	if id := <-slow.started; id != "a0" {
		t.Fatalf("first send %s, want a0", id)
	}
	d.Emit(idEvent(1)) // a0's send is in flight
	tried := map[string]bool{}
	if err := st.Pending("pager", func(_ uint64, _ string, ev alerting.Event, begun bool) { tried[ev.AlertID] = begun }); err != nil {
		t.Fatal(err)
	}
	if !tried["a0"] || tried["a1"] {
		t.Errorf("begun marks while a0 is in flight = %v, want a0 begun and a1 not yet", tried)
	}
	if n := ob.tried.Load(); n != 0 {
		t.Errorf("%d commits of their own for begun sends before a1's send, want 0", n)
	}
	close(slow.gate)
	if id := <-slow.started; id != "a1" {
		t.Fatalf("second send %s, want a1", id)
	}
	if err := closeWithin(t, d, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	wait()
	if n := ob.tried.Load(); n != 1 {
		t.Errorf("%d commits of their own for begun sends, want 1 (a1's, queued behind a0)", n)
	}
	if got := slow.got(); !slices.Equal(got, []string{"a0", "a1"}) {
		t.Errorf("sent %v, want a0 and a1", got)
	}
}
