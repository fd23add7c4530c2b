package lifecycle

import (
	"errors"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// flakyStore fails its first fails writes, as a replicated store does
// while it elects a new leader, and keeps the records written after.
type flakyStore struct {
	fails   int
	tries   int
	records map[string]alerting.Record
}

var errNoLeader = errors.New("no leader")

func (f *flakyStore) write() error {
	f.tries++
	if f.tries <= f.fails {
		return errNoLeader
	}
	return nil
}

func (f *flakyStore) Records() ([]alerting.Record, error) { return nil, nil }
func (f *flakyStore) Handoffs() ([]alerting.Event, error) { return nil, nil }
func (f *flakyStore) PutRecord(r alerting.Record, _ *alerting.Event) error {
	if err := f.write(); err != nil {
		return err
	}
	f.records[r.ID] = r
	return nil
}
func (f *flakyStore) DeleteRecord(id string, _ uint64, _ *alerting.Event) error {
	if err := f.write(); err != nil {
		return err
	}
	delete(f.records, id)
	return nil
}
func (f *flakyStore) PutHandoff(*alerting.Event) error { return f.write() }
func (f *flakyStore) HandedOff(string) error           { return nil }

// A write of an alert's state that fails for a moment is tried again
// within StoreRetry, so the store keeps the level the alarm is at (the
// next holder of a site continues from it) instead of an older one.
func TestStoreRetry(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	cases := []struct {
		name      string
		fails     int
		retry     time.Duration
		wantLevel sensors.Level // kept after the de-escalation
	}{
		{"no failure", 0, 0, sensors.LevelOrange},
		{"a failure not retried leaves the older level", 1, 0, sensors.LevelRed},
		{"a short outage ridden out", 2, 2 * time.Second, sensors.LevelOrange},
		{"an outage longer than the retry gives up", 1000, 300 * time.Millisecond, sensors.LevelRed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := &flakyStore{records: map[string]alerting.Record{}}
			l := NewLifecycle(nil, LifecycleOptions{Store: st, StoreRetry: c.retry})
			l.Emit(alerting.Event{AlertID: "a", Rule: "gas_high", Site: "plant-1", Sensor: "GT-1", Type: alerting.EventFired,
				Level: sensors.LevelRed, At: t0, StartsAt: t0})
			st.fails, st.tries = c.fails, 0
			l.Emit(alerting.Event{AlertID: "a", Rule: "gas_high", Site: "plant-1", Sensor: "GT-1", Type: alerting.EventDeescalated,
				Level: sensors.LevelOrange, At: t0.Add(time.Second), StartsAt: t0})
			r, ok := st.records["a"]
			if !ok {
				t.Fatal("the alert is not kept at all")
			}
			if r.Level != c.wantLevel {
				t.Errorf("kept at %s after %d tries, want %s", r.Level, st.tries, c.wantLevel)
			}
		})
	}
}
