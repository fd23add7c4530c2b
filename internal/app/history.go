package app

import (
	"sync"
	"time"

	"github.com/riskmon/riskmon/alerting"
)

// history keeps the most recent alert events in memory for GET /api/v1/events
// (the simulator's scoring reads them) and passes every event on. Emit never
// blocks, as the engine requires of its sink.
type history struct {
	next alerting.Sink
	mu   sync.Mutex
	ring []alerting.Event
	head int // index of the oldest event once the ring is full
	seq  uint64
}

func newHistory(size int, next alerting.Sink) *history {
	return &history{next: next, ring: make([]alerting.Event, 0, size)}
}

func (h *history) Emit(ev alerting.Event) {
	h.mu.Lock()
	h.seq++
	if len(h.ring) < cap(h.ring) {
		h.ring = append(h.ring, ev)
	} else {
		h.ring[h.head] = ev
		h.head = (h.head + 1) % len(h.ring)
	}
	h.mu.Unlock()
	h.next.Emit(ev)
}

// Events returns the kept events, oldest first, at or after since (device
// time of the event) when since is not zero.
func (h *history) Events(since time.Time) []alerting.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]alerting.Event, 0, len(h.ring))
	for i := range h.ring {
		ev := h.ring[(h.head+i)%len(h.ring)]
		if since.IsZero() || !ev.At.Before(since) {
			out = append(out, ev)
		}
	}
	return out
}
