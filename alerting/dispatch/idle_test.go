package dispatch

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
)

// beganOutbox is an outbox that keeps nothing and notes, per key, whether
// Enqueue was told the send begins at once. Its commit takes a moment, as
// a disk's does, which gives the worker time to move meanwhile.
type beganOutbox struct {
	mu    sync.Mutex
	begun map[string]bool
	seq   uint64
}

func (o *beganOutbox) Enqueue(_ []string, begun []bool, key string, _ alerting.Event) ([]uint64, error) {
	time.Sleep(50 * time.Microsecond)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.begun[key] = begun[0]
	o.seq++
	return []uint64{o.seq}, nil
}

func (o *beganOutbox) Tried(string, string) error                   { return nil }
func (o *beganOutbox) Done(string, uint64, string, time.Time) error { return nil }
func (o *beganOutbox) Pending(string, func(uint64, string, alerting.Event, bool)) error {
	return nil
}
func (o *beganOutbox) PruneSent(time.Time) (int, error) { return 0, nil }

// TestIdleNeverWhileSending: an event emitted while the notifier holds an
// earlier one (queued, or taken and in flight) must not be marked as
// begun in its enqueueing commit, or a restart would count its first send
// as a re-send. The worker takes the first event while the second is
// being emitted; the check of idleness must not see the flag from before
// the take and the queue from after it.
func TestIdleNeverWhileSending(t *testing.T) {
	const rounds = 300
	for round := range rounds {
		out := &beganOutbox{begun: map[string]bool{}}
		stuck := &recorder{name: "pager", gate: make(chan struct{}), started: make(chan string, 4)}
		d, err := NewDispatcher([]Notifier{stuck}, DispatcherOptions{Store: out})
		if err != nil {
			t.Fatal(err)
		}
		wait := run(t, d)
		d.Emit(idEvent(0))
		d.Emit(idEvent(1))
		<-stuck.started
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = d.Close(ctx) // a0 stays stuck: give it up
		wait()
		out.mu.Lock()
		b1 := out.begun[idEvent(1).Key()]
		out.mu.Unlock()
		if b1 {
			t.Fatalf("round %d: a1, emitted behind a0, was marked begun in its enqueueing commit", round)
		}
	}
}
