package dispatch

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/alerting/store"
	"github.com/riskmon/riskmon/sensors"
)

// With the outbox joined to the alert store, the commit that records a
// change holds its notifications too: the file as it is when the change
// first leaves the lifecycle (where a kill -9 would leave it) already has
// the record, the hand-off mark and the outbox entry of every notifier
// the change is for, and none for a shelved or planned alert's change.
// A second life restored from that file pages each change once.
func TestJoinedCommitHoldsTheNotifications(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	fired := alerting.Event{AlertID: "c4f1", Rule: "ch4_high", Site: "mine-1", Sensor: "CH4-1", Type: alerting.EventFired,
		Level: sensors.LevelRed, Value: 60, Setpoint: 40, At: t0, StartsAt: t0}
	shelved, planned := fired, fired
	shelved.Shelved = "shelved"
	planned.Planned = true
	tests := []struct {
		name    string
		ev      alerting.Event
		pending int // outbox entries per notifier in the crashed file
	}{
		{"fired", fired, 1},
		{"shelved", shelved, 0},
		{"planned", planned, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "alerts.db")
			st, err := store.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			// Not run: nothing is sent in the first life, as if it
			// died before its notifiers got to the change.
			d, err := NewDispatcher([]Notifier{&recorder{name: "pager"}, &recorder{name: "sms"}}, DispatcherOptions{Store: st})
			if err != nil {
				t.Fatal(err)
			}
			st.JoinOutbox(d)
			crashed := filepath.Join(dir, "crashed.db")
			copyOnce := alerting.SinkFunc(func(alerting.Event) {
				if _, err := os.Stat(crashed); err == nil {
					return
				}
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(crashed, b, 0o600); err != nil {
					t.Fatal(err)
				}
			})
			l := lifecycle.NewLifecycle(alerting.Fanout{copyOnce, d}, lifecycle.LifecycleOptions{Store: st, Now: func() time.Time { return t0 }})
			l.Emit(tt.ev)
			l.Flush()
			st.Close()

			st2, err := store.Open(crashed)
			if err != nil {
				t.Fatal(err)
			}
			defer st2.Close()
			for _, n := range []string{"pager", "sms"} {
				var keys []string
				if err := st2.Pending(n, func(_ uint64, key string, _ alerting.Event, _ bool) { keys = append(keys, key) }); err != nil {
					t.Fatal(err)
				}
				if len(keys) != tt.pending || (tt.pending > 0 && keys[0] != tt.ev.Key()) {
					t.Errorf("%s's outbox in the crashed file: %v, want %d entry of %s", n, keys, tt.pending, tt.ev.Key())
				}
			}
			if recs, err := st2.Records(); err != nil || len(recs) != 1 {
				t.Errorf("records in the crashed file: %d, %v; want the alert", len(recs), err)
			}
			if hs, err := st2.Handoffs(); err != nil || len(hs) != 1 {
				t.Errorf("hand-off marks in the crashed file: %d, %v; want the change's", len(hs), err)
			}

			// The second life: restored pending, then the change is
			// handed on again (Redeliver) and refused as a duplicate.
			pager := &recorder{name: "pager"}
			d2, err := NewDispatcher([]Notifier{pager, &recorder{name: "sms"}}, DispatcherOptions{Store: st2})
			if err != nil {
				t.Fatal(err)
			}
			st2.JoinOutbox(d2)
			wait := run(t, d2)
			l2 := lifecycle.NewLifecycle(d2, lifecycle.LifecycleOptions{Store: st2})
			if _, err := l2.Restore(); err != nil {
				t.Fatal(err)
			}
			l2.Redeliver()
			if err := closeWithin(t, d2, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			wait()
			want := []string{"c4f1"}
			if tt.pending == 0 {
				want = nil
			}
			if got := pager.got(); !slices.Equal(got, want) {
				t.Errorf("second life paged %v, want %v", got, want)
			}
		})
	}
}

// A change queued by the joined commit reaches the dispatcher's Emit as
// well, through the rest of the alert path: it is sent once, and not
// counted as a duplicate; the same change emitted again is one.
func TestJoinedChangeSentOnce(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "alerts.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pager := &recorder{name: "pager"}
	d, err := NewDispatcher([]Notifier{pager}, DispatcherOptions{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	st.JoinOutbox(d)
	wait := run(t, d)
	t0 := time.Unix(1764345600, 0).UTC()
	l := lifecycle.NewLifecycle(d, lifecycle.LifecycleOptions{Store: st, Now: func() time.Time { return t0 }})
	fired := alerting.Event{AlertID: "a1", Rule: "ch4_high", Site: "mine-1", Sensor: "CH4-1", Type: alerting.EventFired,
		Level: sensors.LevelOrange, At: t0, StartsAt: t0}
	l.Emit(fired)
	resolved := fired
	resolved.Type, resolved.Level, resolved.PrevLevel, resolved.At = alerting.EventResolved, sensors.LevelNone, sensors.LevelOrange, t0.Add(time.Minute)
	l.Emit(resolved)
	dups := func() float64 { return testutil.ToFloat64(d.m.suppressed.WithLabelValues("pager", "duplicate")) }
	if n := dups(); n != 0 {
		t.Errorf("duplicates after two changes: %v, want 0", n)
	}
	d.Emit(fired) // a copy straight to the dispatcher: refused
	if n := dups(); n != 1 {
		t.Errorf("duplicates after a copy: %v, want 1", n)
	}
	if err := closeWithin(t, d, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	wait()
	if got := pager.got(); !slices.Equal(got, []string{"a1", "a1"}) {
		t.Errorf("paged %v, want a1 fired and resolved, once each", got)
	}
	l.Flush()
	if hs, err := st.Handoffs(); err != nil || len(hs) != 0 {
		t.Errorf("hand-off marks left: %d, %v", len(hs), err)
	}
}
