package jskv

import (
	"context"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/dispatch"
	"github.com/riskmon/riskmon/sensors"
)

var _ dispatch.Outbox = (*Outbox)(nil)

// memOutbox is a local outbox in memory that takes every key once.
type memOutbox struct {
	seq  uint64
	seen map[string]bool
}

func (m *memOutbox) Enqueue(notifiers []string, _ []bool, key string, _ alerting.Event) ([]uint64, error) {
	out := make([]uint64, len(notifiers))
	for i, n := range notifiers {
		if m.seen[n+key] {
			continue
		}
		m.seen[n+key] = true
		m.seq++
		out[i] = m.seq
	}
	return out, nil
}
func (m *memOutbox) Tried(string, string) error                                       { return nil }
func (m *memOutbox) Done(string, uint64, string, time.Time) error                     { return nil }
func (m *memOutbox) PruneSent(time.Time) (int, error)                                 { return 0, nil }
func (m *memOutbox) Pending(string, func(uint64, string, alerting.Event, bool)) error { return nil }

// Two instances raising the same changes page each once per notifier;
// a claim left by an instance that died unsent is taken over.
func TestOutboxClaims(t *testing.T) {
	js := jetStream(t)
	live := map[string]bool{"a": true, "b": true}
	isLive := func(id string) bool { return live[id] }
	s := open(t, js, nil)
	a := s.Outbox(&memOutbox{seen: map[string]bool{}}, "a", isLive)
	b := s.Outbox(&memOutbox{seen: map[string]bool{}}, "b", isLive)
	fired := event("a1", "mine.1", alerting.EventFired, sensors.LevelOrange, time.Second)
	escal := event("a1", "mine.1", alerting.EventEscalated, sensors.LevelRed, 2*time.Second)
	notifiers := []string{"webhook", "sms"}
	steps := []struct {
		name string
		do   func() ([]uint64, error)
		won  []bool
	}{
		{"a raises", func() ([]uint64, error) { return a.Enqueue(notifiers, nil, fired.Key(), fired) }, []bool{true, true}},
		{"b raises the same while a is there", func() ([]uint64, error) { return b.Enqueue(notifiers, nil, fired.Key(), fired) }, []bool{false, false}},
		{"a again: its own outbox refuses it", func() ([]uint64, error) { return a.Enqueue(notifiers, nil, fired.Key(), fired) }, []bool{false, false}},
		{"a sends the webhook; b raises again", func() ([]uint64, error) {
			if err := a.Done("webhook", 1, fired.Key(), t0); err != nil {
				return nil, err
			}
			live["a"] = false
			return b.Enqueue(notifiers, nil, fired.Key(), fired)
		}, []bool{false, true}},
		{"b escalates, a is gone", func() ([]uint64, error) { return b.Enqueue(notifiers[:1], nil, escal.Key(), escal) }, []bool{true}},
	}
	for _, st := range steps {
		seqs, err := st.do()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for i, w := range st.won {
			if (seqs[i] != 0) != w {
				t.Errorf("%s: %s sequence %d, want won=%v", st.name, notifiers[i], seqs[i], w)
			}
		}
	}
}

// Unsent lists what a dead instance claimed and did not send, for the
// sites asked for.
func TestOutboxUnsent(t *testing.T) {
	js := jetStream(t)
	live := map[string]bool{"a": true, "b": true}
	isLive := func(id string) bool { return live[id] }
	s := open(t, js, nil)
	a := s.Outbox(&memOutbox{seen: map[string]bool{}}, "a", isLive)
	b := s.Outbox(&memOutbox{seen: map[string]bool{}}, "b", isLive)
	sent := event("a1", "mine.1", alerting.EventFired, sensors.LevelOrange, time.Second)
	lost := event("a2", "mine.1", alerting.EventFired, sensors.LevelRed, 2*time.Second)
	other := event("a3", "mine.2", alerting.EventFired, sensors.LevelRed, 3*time.Second)
	for _, ev := range []alerting.Event{sent, lost, other} {
		if _, err := a.Enqueue([]string{"webhook"}, nil, ev.Key(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Done("webhook", 1, sent.Key(), t0); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got, _ := b.Unsent(ctx, []string{"mine.1"}); len(got) != 0 {
		t.Fatalf("unsent while a is alive: %v", evIDs(got))
	}
	live["a"] = false
	got, err := b.Unsent(ctx, []string{"mine.1"})
	if err != nil || len(got) != 1 || got[0].AlertID != "a2" {
		t.Fatalf("unsent of mine.1: %v, %v; want a2", evIDs(got), err)
	}
	if seqs, _ := b.Enqueue([]string{"webhook"}, nil, lost.Key(), got[0]); seqs[0] == 0 {
		t.Fatal("b could not take over the dead instance's claim")
	}
	if err := b.Done("webhook", 1, lost.Key(), t0); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Unsent(ctx, []string{"mine.1"}); len(got) != 0 {
		t.Fatalf("unsent after b sent it: %v", evIDs(got))
	}
}

// TestOutboxPrunesSentClaims: claims marked sent before the cutoff leave
// the bucket; a newer sent claim and a claim not yet sent stay.
func TestOutboxPrunesSentClaims(t *testing.T) {
	js := jetStream(t)
	s := open(t, js, nil)
	a := s.Outbox(&memOutbox{seen: map[string]bool{}}, "a", func(string) bool { return true })
	old := event("a1", "mine.1", alerting.EventFired, sensors.LevelOrange, time.Second)
	recent := event("a1", "mine.1", alerting.EventEscalated, sensors.LevelRed, 2*time.Second)
	unsent := event("a2", "mine.1", alerting.EventFired, sensors.LevelOrange, 3*time.Second)
	for _, ev := range []alerting.Event{old, recent, unsent} {
		if _, err := a.Enqueue([]string{"webhook"}, nil, ev.Key(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Done("webhook", 1, old.Key(), t0); err != nil {
		t.Fatal(err)
	}
	if err := a.Done("webhook", 2, recent.Key(), t0.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	n, err := a.PruneSent(t0.Add(24 * time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d claims (%v), want the old sent one", n, err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		ev   alerting.Event
		kept bool
	}{{old, false}, {recent, true}, {unsent, true}} {
		_, err := s.kv.Get(ctx, sentKey(tc.ev.Site, "webhook", tc.ev.Key()))
		if kept := err == nil; kept != tc.kept {
			t.Errorf("claim of %s %s kept %v (%v), want %v", tc.ev.AlertID, tc.ev.Type, kept, err, tc.kept)
		}
	}
}
