package lifecycle

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// memKV is a KV in memory.
type memKV map[string][]byte

func (m memKV) Each(fn func(k, v []byte) error) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if err := fn([]byte(k), m[k]); err != nil {
			return err
		}
	}
	return nil
}
func (m memKV) Put(k string, v []byte) error { m[k] = v; return nil }
func (m memKV) Delete(k string) error        { delete(m, k); return nil }

// A cluster instance hands sites over and takes them up again: Drop
// forgets a site's alerts and pending hand-offs without passing anything
// on, Take continues them as another instance kept them.
func TestDropAndTake(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	var passed []alerting.Event
	l := NewLifecycle(alerting.SinkFunc(func(ev alerting.Event) { passed = append(passed, ev) }), LifecycleOptions{})
	fire := func(id, site string) alerting.Event {
		return alerting.Event{AlertID: id, Rule: "ch4_high", Site: site, Sensor: "CH4-" + id, Type: alerting.EventFired,
			Level: sensors.LevelOrange, At: t0, StartsAt: t0}
	}
	for _, ev := range []alerting.Event{fire("a", "mine-1"), fire("b", "mine-2"), fire("c", "mine-2")} {
		l.Emit(ev)
	}
	if _, err := l.Ack("b", "li", ""); err != nil {
		t.Fatal(err)
	}
	taken := l.Open()
	before := len(passed)
	steps := []struct {
		name string
		do   func() int
		n    int
		open []string
	}{
		{"drop nothing", func() int { return l.Drop(nil) }, 0, []string{"a", "b", "c"}},
		{"drop an unknown site", func() int { return l.Drop([]string{"mine-9"}) }, 0, []string{"a", "b", "c"}},
		{"drop mine-2", func() int { return l.Drop([]string{"mine-2"}) }, 2, []string{"a"}},
		{"take them back", func() int {
			return l.Take(taken, []alerting.Event{fire("d", "mine-2")})
		}, 2, []string{"a", "b", "c"}},
		{"hand-offs of a dropped site are forgotten", func() int {
			l.Drop([]string{"mine-2"})
			return l.Redeliver()
		}, 0, []string{"a"}},
	}
	for _, st := range steps {
		if n := st.do(); n != st.n {
			t.Errorf("%s: %d, want %d", st.name, n, st.n)
		}
		var open []string
		for _, r := range l.Open() {
			open = append(open, r.ID)
		}
		slices.Sort(open)
		if !slices.Equal(open, st.open) {
			t.Errorf("%s: open %v, want %v", st.name, open, st.open)
		}
	}
	if len(passed) != before {
		t.Errorf("dropping and taking passed on %d events", len(passed)-before)
	}
	l.Take(taken, nil)
	if r, ok := l.Get("b"); !ok || r.State != alerting.StateActiveAcked || r.AckedBy != "li" {
		t.Errorf("taken up again: %+v, %v; want b acknowledged by li", r, ok)
	}
}

// The flapping state of a site handed over is forgotten, and loaded
// again from the store when the site is taken back.
func TestFlapperDropAndLoad(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	kv := memKV{}
	f, err := NewFlapper(nil, FlapOptions{Store: kv, Raises: 1})
	if err != nil {
		t.Fatal(err)
	}
	g := &toggler{t0: t0}
	for _, ev := range []alerting.Event{g.fire(0, sensors.LevelOrange), g.clear(5, sensors.LevelOrange), g.fire(10, sensors.LevelOrange)} {
		f.Emit(ev)
	}
	if len(f.Flapping()) != 1 || len(kv) != 1 {
		t.Fatalf("flapping %v, stored %d; want one held alert", f.Flapping(), len(kv))
	}
	f.Drop([]string{"mine-2"})
	if len(f.Flapping()) != 1 {
		t.Fatal("dropping another site dropped mine-1's state")
	}
	f.Drop([]string{"mine-1"})
	if len(f.Flapping()) != 0 || len(kv) != 1 {
		t.Fatalf("after drop: flapping %v, stored %d; want none held, the store untouched", f.Flapping(), len(kv))
	}
	if err := f.Load(kv); err != nil {
		t.Fatal(err)
	}
	if len(f.Flapping()) != 1 {
		t.Fatal("not held again after Load")
	}
}

// Reload takes up the shelves another instance made or removed.
func TestShelvesReload(t *testing.T) {
	kv := memKV{}
	now := time.Unix(1764345600, 0).UTC()
	clock := func() time.Time { return now }
	mine, err := NewShelves(nil, ShelvesOptions{Store: kv, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewShelves(nil, ShelvesOptions{Store: kv, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := other.Shelve(ShelfRequest{Match: Matcher{Site: "mine-1", Sensor: "CH4-1", Rule: "ch4_high"}, By: "li", Duration: time.Hour, Mode: ModeShelved, Reason: "calibration"})
	if err != nil {
		t.Fatal(err)
	}
	if len(mine.Shelves()) != 0 {
		t.Fatal("a shelf seen before Reload")
	}
	if err := mine.Reload(); err != nil || len(mine.Shelves()) != 1 || mine.Shelves()[0].ID != sh.ID {
		t.Fatalf("after Reload: %v, %v; want %s", mine.Shelves(), err, sh.ID)
	}
}
