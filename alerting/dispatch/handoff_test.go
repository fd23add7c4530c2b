package dispatch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/alerting/store"

	"github.com/riskmon/riskmon/sensors"
)

// crashCopy runs emit with a next stage that, on its nth event (from 1),
// copies the store's file as it is on disk at that moment, the state a
// kill -9 between the store's commit and the outbox's would leave; it
// returns the copy's path.
func crashCopy(t *testing.T, nth int, emit func(l *lifecycle.Lifecycle)) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	crashed := filepath.Join(dir, "crashed.db")
	seen, copied := 0, false
	next := alerting.SinkFunc(func(alerting.Event) {
		if seen++; seen != nth {
			return
		}
		copied = true
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crashed, b, 0o600); err != nil {
			t.Fatal(err)
		}
	})
	t0 := time.Unix(1764345600, 0).UTC()
	emit(lifecycle.NewLifecycle(next, lifecycle.LifecycleOptions{Store: st, Now: func() time.Time { return t0 }}))
	if !copied {
		t.Fatal("nothing reached the next stage in the first life")
	}
	return crashed
}

// A change the store recorded but the process died before handing on (to
// the outbox and the journal) is handed on in the next life: when the
// redelivered reading emits it again, and by Redeliver at start; it is
// paged once, not twice.
func TestLifecycleHandsOnChangeCutByCrash(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	fired := alerting.Event{AlertID: "c4f1", Rule: "ch4_high", Site: "mine-1", Sensor: "CH4-1", Type: alerting.EventFired,
		Level: sensors.LevelRed, Value: 60, Setpoint: 40, At: t0, StartsAt: t0}
	crashed := crashCopy(t, 1, func(l *lifecycle.Lifecycle) { l.Emit(fired) })

	tests := []struct {
		name string
		// restart drives the second life after Restore.
		restart func(l *lifecycle.Lifecycle)
	}{
		{"reading redelivered", func(l *lifecycle.Lifecycle) {
			l.Emit(fired)
			l.Emit(fired) // a third copy: handed on already
		}},
		{"redeliver at start", func(l *lifecycle.Lifecycle) {
			if n := l.Redeliver(); n != 1 {
				t.Errorf("Redeliver passed on %d changes, want 1", n)
			}
			l.Emit(fired) // the reading arrives after: handed on already
			if n := l.Redeliver(); n != 0 {
				t.Errorf("second Redeliver passed on %d changes, want 0", n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := os.ReadFile(crashed)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "alerts.db")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := store.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			pager := &recorder{name: "pager"}
			d, err := NewDispatcher([]Notifier{pager}, DispatcherOptions{Store: st})
			if err != nil {
				t.Fatal(err)
			}
			wait := run(t, d)
			var journaled []alerting.Event
			next := alerting.SinkFunc(func(e alerting.Event) {
				d.Emit(e)
				journaled = append(journaled, e)
			})
			l := lifecycle.NewLifecycle(next, lifecycle.LifecycleOptions{Store: st})
			if n, err := l.Restore(); err != nil || n != 1 {
				t.Fatalf("restored %d alerts, %v; want 1", n, err)
			}
			tt.restart(l)
			if err := closeWithin(t, d, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			wait()
			if got := pager.got(); !slices.Equal(got, []string{"c4f1"}) {
				t.Fatalf("paged %v, want the fired alert once", got)
			}
			if len(journaled) != 1 || journaled[0].Type != alerting.EventFired {
				t.Fatalf("next stage saw %d events %v, want the fired once", len(journaled), journaled)
			}
			// Handed on: a third life has nothing left to pass on.
			l.Flush()
			l3 := lifecycle.NewLifecycle(alerting.SinkFunc(func(alerting.Event) {}), lifecycle.LifecycleOptions{Store: st})
			if _, err := l3.Restore(); err != nil {
				t.Fatal(err)
			}
			if n := l3.Redeliver(); n != 0 {
				t.Fatalf("a third life passed on %d changes again", n)
			}
		})
	}
}

// An acknowledgement and a resolution cut short by a crash are handed on
// at the next start; an alert that left the list is not reopened.
func TestLifecycleRedeliversAckAndResolve(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	fired := alerting.Event{AlertID: "a1", Rule: "ch4_high", Site: "mine-1", Sensor: "CH4-1", Type: alerting.EventFired,
		Level: sensors.LevelOrange, At: t0, StartsAt: t0}
	resolved := fired
	resolved.Type, resolved.Level, resolved.PrevLevel, resolved.At = alerting.EventResolved, sensors.LevelNone, sensors.LevelOrange, t0.Add(time.Minute)
	ack := func(l *lifecycle.Lifecycle) {
		if _, err := l.Ack("a1", "li", "checked"); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		life1 func(l *lifecycle.Lifecycle)
		want  alerting.EventType
		open  bool // the alert is still listed after the restart
	}{
		// Flush between changes: the earlier ones were handed on in full
		// (their marks cleared, which happens in the background) before
		// the crash cut the last one short.
		{"acknowledged", func(l *lifecycle.Lifecycle) { l.Emit(fired); l.Flush(); ack(l) }, alerting.EventAcknowledged, true},
		{"resolved", func(l *lifecycle.Lifecycle) { l.Emit(fired); l.Flush(); l.Emit(resolved) }, alerting.EventResolved, true},
		{"resolved after acknowledged", func(l *lifecycle.Lifecycle) { l.Emit(fired); l.Flush(); ack(l); l.Flush(); l.Emit(resolved) }, alerting.EventResolved, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 2
			if tt.name == "resolved after acknowledged" {
				n = 3
			}
			crashed := crashCopy(t, n, tt.life1)
			st, err := store.Open(crashed)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var got []alerting.Event
			l := lifecycle.NewLifecycle(alerting.SinkFunc(func(e alerting.Event) { got = append(got, e) }), lifecycle.LifecycleOptions{Store: st})
			if _, err := l.Restore(); err != nil {
				t.Fatal(err)
			}
			if n := l.Redeliver(); n != 1 || len(got) != 1 || got[0].Type != tt.want {
				t.Fatalf("Redeliver passed on %d: %v; want one %v", n, got, tt.want)
			}
			if _, ok := l.Get("a1"); ok != tt.open {
				t.Fatalf("alert listed after restart: %v, want %v", ok, tt.open)
			}
		})
	}
}

// BenchmarkLifecycleEmit is one alert change through the lifecycle into
// the outbox of two notifiers, with the store: the record with its
// hand-off mark, the outbox entries and the clearing of the mark are
// three commits, shared among concurrent emitters; joined (the
// service's single-node setting), the outbox entries are in the
// record's commit, and the emitter waits for one commit instead of two.
func BenchmarkLifecycleEmit(b *testing.B) {
	for _, bc := range []struct {
		parallel, joined bool
	}{{false, false}, {false, true}, {true, false}, {true, true}} {
		name := "serial"
		if bc.parallel {
			name = "parallel"
		}
		if bc.joined {
			name += "/joined"
		}
		parallel := bc.parallel
		b.Run(name, func(b *testing.B) {
			st, err := store.Open(filepath.Join(b.TempDir(), "alerts.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			d, _ := NewDispatcher([]Notifier{&recorder{name: "a"}, &recorder{name: "b"}}, DispatcherOptions{Store: st, QueueSize: 1 << 20})
			if bc.joined {
				st.JoinOutbox(d)
			}
			go d.Run(context.Background())
			defer func() { b.StopTimer(); d.Close(context.Background()) }()
			l := lifecycle.NewLifecycle(d, lifecycle.LifecycleOptions{Store: st})
			t0 := time.Unix(1764345600, 0).UTC()
			var n atomic.Int64
			emit := func() {
				i := n.Add(1)
				l.Emit(alerting.Event{AlertID: fmt.Sprint("a", i), Rule: "ch4_high", Site: "mine-1", Sensor: fmt.Sprint("CH4-", i),
					Type: alerting.EventFired, Level: sensors.LevelOrange, At: t0, StartsAt: t0})
			}
			b.ResetTimer()
			if !parallel {
				for range b.N {
					emit()
				}
				return
			}
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					emit()
				}
			})
		})
	}
}
