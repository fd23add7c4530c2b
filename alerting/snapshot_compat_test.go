package alerting

import (
	"cmp"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// compatFile is a snapshot written by the engine before its rule
// families shared an interface; a snapshot on disk must stay readable
// across such changes.
const compatFile = "snapshot-families.alert-state"

// compatOpts and compatEngine build the engine whose state compatFile
// holds: every catalog kind, a group and a composite rule, a quiet hour
// and then the first sensor of each kind near the top of its range, so
// that threshold, early-warning, exposure, group and composite rules all
// have state.
var compatOpts = Options{
	Groups:    []Group{{ID: "G", Site: "s-1", Sensors: []string{"co-0", "co-1"}, Tolerance: 5}},
	Composite: []CompositeRule{{ID: "C", Site: "s-1", Expr: "co_0 > 1 && co_1 > 1", For: time.Minute}},
}

func compatEngine(t *testing.T) (*Engine, *sensors.Registry) {
	t.Helper()
	reg := fleetRegistry(t, 2)
	e, err := NewEngine(reg, nil, compatOpts)
	if err != nil {
		t.Fatal(err)
	}
	rs := fleetReadings(reg)
	for i := range 120 {
		for _, r := range rs {
			r.Time = t0.Add(time.Duration(i) * 5 * time.Second)
			r.Received = r.Time
			r.Value += 0.01 * float64(i%3)
			if k := r.Ref.KindInfo(); i >= 80 && r.Sensor == string(k.ID)+"-0" {
				r.Value = k.Min + (k.Max-k.Min)*(0.5+0.012*float64(i-80))
			}
			e.Evaluate(r)
		}
	}
	return e, reg
}

// TestRestoreSnapshotWrittenBefore restores compatFile into a fresh
// engine: every rule's state is kept, none reset or closed, and the state
// snapshots back as it was written (rules in any order).
func TestRestoreSnapshotWrittenBefore(t *testing.T) {
	snap, err := LoadSnapshot(filepath.Join("testdata", compatFile))
	if err != nil {
		t.Fatal(err)
	}
	reg := fleetRegistry(t, 2)
	e, err := NewEngine(reg, nil, compatOpts)
	if err != nil {
		t.Fatal(err)
	}
	st := e.Restore(snap)
	if st.Kept == 0 || st.Reset != 0 || st.Gone != 0 || st.Closed != 0 {
		t.Fatalf("stats %+v, want everything kept", st)
	}
	families := map[string]bool{}
	for _, a := range e.Active() {
		families[a.Rule] = true
	}
	for _, rule := range []string{"co_high", "co_stel", "sensor_jump"} {
		if !families[rule] {
			t.Errorf("no active %s alert after the restore; active: %v", rule, families)
		}
	}
	// The same readings through today's engine give the same alerts.
	live, _ := compatEngine(t)
	if !equalJSON(t, e.Active(), live.Active()) {
		t.Errorf("restored alerts differ from those of the same readings now\n got %+v\nwant %+v", e.Active(), live.Active())
	}
	byID := func(a, b RuleSnapshot) int { return cmp.Compare(a.ID, b.ID) }
	want := map[string]SubjectSnapshot{}
	for _, s := range snap.Subjects {
		s.Received = 0 // a restart restarts the stale timers
		slices.SortFunc(s.Rules, byID)
		want[s.Sensor] = s
	}
	again := e.Snapshot()
	if len(again.Subjects) != len(snap.Subjects) {
		t.Fatalf("%d subjects after the restore, %d written", len(again.Subjects), len(snap.Subjects))
	}
	for _, s := range again.Subjects {
		slices.SortFunc(s.Rules, byID)
		if !equalJSON(t, s, want[s.Sensor]) {
			t.Errorf("%s: state differs\n got %+v\nwant %+v", s.Sensor, s, want[s.Sensor])
		}
	}
	if !equalJSON(t, again.Groups, snap.Groups) || !equalJSON(t, again.Composites, snap.Composites) {
		t.Error("group or composite state differs")
	}
}
