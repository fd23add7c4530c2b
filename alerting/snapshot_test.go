package alerting

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"hash/crc32"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/sensors"
)

// at is a reading of GT-101 at a device time from t0.
func at(d time.Duration, v float64) sensors.Reading {
	return sensors.Reading{Site: "hz-01", Sensor: "GT-101", Value: v, Time: t0.Add(d), Received: t0.Add(d)}
}

// feed evaluates a reading of v every 30 s of device time in [from, to).
func feed(e *Engine, from, to time.Duration, v float64) {
	for d := from; d < to; d += 30 * time.Second {
		e.Evaluate(at(d, v))
	}
}

// restart snapshots e into a file and builds a new engine from reg and
// opts restored from it, as the service does across a restart.
func restart(t *testing.T, e *Engine, reg *sensors.Registry, sink Sink, opts Options) (*Engine, RestoreStats) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "alert-state")
	if err := SaveSnapshot(path, e.Snapshot()); err != nil {
		t.Fatal(err)
	}
	snap, err := LoadSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	next, err := NewEngine(reg, sink, opts)
	if err != nil {
		t.Fatal(err)
	}
	return next, next.Restore(snap)
}

var tenMinutes = Options{For: 10 * time.Minute}

// TestRestartPending: killed at minute 7 of a for: 10m rule, the restored
// engine fires at minute 10 with StartsAt at minute 0, where a cold one
// fires at minute 17 after the restart (resumed readings at minute 7).
func TestRestartPending(t *testing.T) {
	reg := testRegistry(t)
	var before, after, cold collect
	e, _ := NewEngine(reg, &before, tenMinutes)
	feed(e, 0, 7*time.Minute, 27)
	pending := e.Active()
	if len(pending) != 1 || pending[0].State != StatePending {
		t.Fatalf("active %+v, want one pending alert", pending)
	}
	next, st := restart(t, e, reg, &after, tenMinutes)
	if st.Kept == 0 || st.Reset != 0 || st.Gone != 0 {
		t.Errorf("restore stats %+v, want rules kept and nothing reset", st)
	}
	coldEngine, _ := NewEngine(reg, &cold, tenMinutes)
	for _, x := range []*Engine{next, coldEngine} {
		feed(x, 7*time.Minute+30*time.Second, 20*time.Minute, 27)
	}
	evs := after.all()
	if len(evs) != 1 || evs[0].Type != EventFired {
		t.Fatalf("restored engine: events %+v, want one fired", evs)
	}
	if evs[0].At.Sub(t0) != 10*time.Minute || !evs[0].StartsAt.Equal(t0) || evs[0].AlertID != pending[0].ID {
		t.Errorf("fired at %s starting %s id %s; want at 10m, starting at 0, id %s (the pending alert's)",
			evs[0].At.Sub(t0), evs[0].StartsAt.Sub(t0), evs[0].AlertID, pending[0].ID)
	}
	if c := cold.all(); len(c) != 1 || c[0].At.Sub(t0) != 17*time.Minute+30*time.Second {
		t.Errorf("cold engine: events %+v, want one fired at 17m30s", c)
	}
}

// TestRestartFiring: a firing alert stays firing with the same id, and
// the restored engine sends no second fired event; it resolves the same
// alert later.
func TestRestartFiring(t *testing.T) {
	reg := testRegistry(t)
	var before, after collect
	e, _ := NewEngine(reg, &before, tenMinutes)
	feed(e, 0, 12*time.Minute, 27)
	fired := before.all()
	if len(fired) != 1 || fired[0].Type != EventFired {
		t.Fatalf("events %+v, want one fired", fired)
	}
	next, _ := restart(t, e, reg, &after, tenMinutes)
	active := next.Active()
	if len(active) != 1 || active[0].State != StateFiring || active[0].ID != fired[0].AlertID {
		t.Fatalf("restored active %+v, want firing alert %s", active, fired[0].AlertID)
	}
	feed(next, 12*time.Minute, 15*time.Minute, 27)
	// A redelivery of a reading the old engine evaluated is out of order.
	next.Evaluate(at(11*time.Minute, 27))
	if evs := after.all(); len(evs) != 0 {
		t.Fatalf("restored engine raised %+v, want nothing while the alert holds", evs)
	}
	if next.Stats().OutOfOrder != 1 {
		t.Errorf("redelivered reading not counted out of order: %+v", next.Stats())
	}
	next.Evaluate(at(15*time.Minute, 5))
	evs := after.all()
	if len(evs) != 1 || evs[0].Type != EventResolved || evs[0].AlertID != fired[0].AlertID {
		t.Fatalf("events %+v, want alert %s resolved", evs, fired[0].AlertID)
	}
}

// gasWithSetpoints is testRegistry with GT-101 given its own setpoints.
func gasWithSetpoints(t *testing.T, orange, red float64) *sensors.Registry {
	t.Helper()
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(),
		[]sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}, {ID: "cm-01", Sector: sensors.SectorCoal}},
		[]sensors.Sensor{
			{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Setpoints: []sensors.Setpoint{
				{Level: sensors.LevelOrange, Direction: sensors.Above, Value: orange},
				{Level: sensors.LevelRed, Direction: sensors.Above, Value: red},
			}},
			{ID: "GT-102", Site: "hz-01", Kind: "combustible_gas"},
		})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestRestoreChangedRule: a rule whose setpoints changed while riskmon
// was down starts afresh, and its open alert is closed with an event
// saying so, rather than left open for ever.
func TestRestoreChangedRule(t *testing.T) {
	var before, after collect
	e, _ := NewEngine(testRegistry(t), &before, Options{})
	e.Evaluate(at(0, 27))
	fired := before.all()[0]
	next, st := restart(t, e, gasWithSetpoints(t, 20, 40), &after, Options{})
	if st.Reset == 0 || st.Closed != 1 {
		t.Errorf("restore stats %+v, want the changed rule reset and its alert closed", st)
	}
	evs := after.all()
	if len(evs) != 1 || evs[0].Type != EventResolved || evs[0].AlertID != fired.AlertID || !strings.Contains(evs[0].Message, "changed") {
		t.Fatalf("events %+v, want alert %s resolved as changed", evs, fired.AlertID)
	}
	next.Evaluate(at(5*time.Second, 27))
	evs = after.all()
	if len(evs) != 2 || evs[1].Type != EventFired || evs[1].AlertID == fired.AlertID {
		t.Errorf("events %+v, want a new alert under the new rule", evs)
	}
}

// TestSnapshotRoundTrip: every kind of state survives the file: windows,
// early rules, exposure rings, groups and composite rules.
func TestSnapshotRoundTrip(t *testing.T) {
	reg := fleetRegistry(t, 2)
	opts := Options{
		Groups:    []Group{{ID: "G", Site: "s-1", Sensors: []string{"co-0", "co-1"}, Tolerance: 5}},
		Composite: []CompositeRule{{ID: "C", Site: "s-1", Expr: "co_0 > 1 && co_1 > 1", For: time.Minute}},
	}
	e, err := NewEngine(reg, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	rs := fleetReadings(reg)
	for i := range 60 {
		for _, r := range rs {
			r.Time = t0.Add(time.Duration(i) * 5 * time.Second)
			r.Value += 0.01 * float64(i%3)
			e.Evaluate(r)
		}
	}
	snap := e.Snapshot()
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, snap); err != nil {
		t.Fatal(err)
	}
	t.Logf("snapshot of %d sensors: %d bytes", len(snap.Subjects), buf.Len())
	back, err := ReadSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	next, err := NewEngine(reg, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	st := next.Restore(back)
	if st.Reset != 0 || st.Gone != 0 || st.Closed != 0 {
		t.Errorf("stats %+v, want everything kept", st)
	}
	again := next.Snapshot()
	if len(again.Subjects) != len(snap.Subjects) || len(again.Groups) != 1 || len(again.Composites) != 1 {
		t.Fatalf("restored snapshot has %d subjects, %d groups, %d composites", len(again.Subjects), len(again.Groups), len(again.Composites))
	}
	bySensor := map[string]SubjectSnapshot{}
	for _, s := range snap.Subjects {
		bySensor[s.Sensor] = s
	}
	for _, s := range again.Subjects {
		want := bySensor[s.Sensor]
		want.Received = 0 // a restart restarts the stale timers; see SubjectSnapshot
		if !equalJSON(t, s, want) {
			t.Errorf("%s: state differs after the round trip\n got %+v\nwant %+v", s.Sensor, s, want)
		}
	}
	if !equalJSON(t, again.Groups, snap.Groups) || !equalJSON(t, again.Composites, snap.Composites) {
		t.Errorf("group or composite state differs after the round trip")
	}
	if _, err := ReadSnapshot(strings.NewReader("not a snapshot")); err == nil {
		t.Error("garbage read as a snapshot")
	}
	var file bytes.Buffer
	if err := WriteSnapshot(&file, snap); err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(file.Bytes())
	damaged[len(damaged)/2] ^= 0x40
	for name, b := range map[string][]byte{"damaged": damaged, "cut short": file.Bytes()[:file.Len()-10]} {
		if _, err := ReadSnapshot(bytes.NewReader(b)); err == nil {
			t.Errorf("%s file read as a snapshot", name)
		}
	}
}

// TestReload covers hot reload: an unchanged rule keeps its pending
// alert, a changed setpoint starts afresh, an invalid registry is refused
// and the old rules keep running.
func TestReload(t *testing.T) {
	t.Run("unchanged rule keeps its pending alert", func(t *testing.T) {
		var sink collect
		reg := testRegistry(t)
		e, _ := NewEngine(reg, &sink, tenMinutes)
		feed(e, 0, 7*time.Minute, 27)
		st, err := e.Reload(testRegistry(t), tenMinutes)
		if err != nil || st.Kept == 0 || st.Reset != 0 {
			t.Fatalf("reload: %+v, %v", st, err)
		}
		feed(e, 7*time.Minute, 11*time.Minute, 27)
		evs := sink.all()
		if len(evs) != 1 || evs[0].At.Sub(t0) != 10*time.Minute || !evs[0].StartsAt.Equal(t0) {
			t.Fatalf("events %+v, want fired at 10m starting at 0", evs)
		}
	})
	t.Run("timing-only change keeps a firing alert", func(t *testing.T) {
		var sink collect
		e, _ := NewEngine(testRegistry(t), &sink, tenMinutes)
		feed(e, 0, 11*time.Minute, 27)
		before := e.Active()
		if len(before) != 1 || before[0].State != StateFiring {
			t.Fatalf("before the reload: %+v, want one firing alert", before)
		}
		st, err := e.Reload(testRegistry(t), Options{For: time.Minute, OffDelay: 30 * time.Second})
		if err != nil || st.Kept == 0 || st.Closed != 0 {
			t.Fatalf("reload: %+v, %v", st, err)
		}
		feed(e, 11*time.Minute, 15*time.Minute, 27)
		if evs := sink.all(); len(evs) != 1 || evs[0].Type != EventFired {
			t.Fatalf("events %+v, want only the fired before the reload: no resolve, no second alert", evs)
		}
		if after := e.Active(); len(after) != 1 || after[0].ID != before[0].ID || after[0].State != StateFiring {
			t.Fatalf("after the reload: %+v, want %s still firing", after, before[0].ID)
		}
	})
	t.Run("changed setpoint resets", func(t *testing.T) {
		var sink collect
		e, _ := NewEngine(testRegistry(t), &sink, tenMinutes)
		feed(e, 0, 7*time.Minute, 27)
		st, err := e.Reload(gasWithSetpoints(t, 26, 40), tenMinutes)
		if err != nil || st.Reset == 0 {
			t.Fatalf("reload: %+v, %v", st, err)
		}
		feed(e, 7*time.Minute, 20*time.Minute, 27)
		evs := sink.all()
		if len(evs) != 1 || evs[0].At.Sub(t0) != 17*time.Minute {
			t.Fatalf("events %+v, want fired 10 min after the reload", evs)
		}
	})
	t.Run("invalid registry keeps the old rules", func(t *testing.T) {
		var sink collect
		e, _ := NewEngine(testRegistry(t), &sink, tenMinutes)
		feed(e, 0, 7*time.Minute, 27)
		bad, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01"}},
			[]sensors.Sensor{{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Setpoints: []sensors.Setpoint{
				{Level: sensors.LevelOrange, Direction: sensors.Above, Value: 30},
				{Level: sensors.LevelOrange, Direction: sensors.Above, Value: 35},
			}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Reload(bad, tenMinutes); err == nil || !strings.Contains(err.Error(), "set twice") {
			t.Fatalf("reload error %v, want the doubled level", err)
		}
		if _, err := e.Reload(testRegistry(t), Options{Groups: []Group{{ID: "g"}}}); err == nil {
			t.Fatal("invalid group accepted")
		}
		feed(e, 7*time.Minute, 11*time.Minute, 27)
		if evs := sink.all(); len(evs) != 1 || evs[0].At.Sub(t0) != 10*time.Minute {
			t.Fatalf("events %+v, want the old rule firing at 10m", evs)
		}
	})
	t.Run("removed sensor closes its alert", func(t *testing.T) {
		var sink collect
		e, _ := NewEngine(testRegistry(t), &sink, Options{})
		e.Evaluate(reading("cm-01", "CH4-T1", 0, 1.2))
		st, err := e.Reload(gasWithSetpoints(t, 25, 50), Options{})
		if err != nil || st.Closed != 1 {
			t.Fatalf("reload: %+v, %v", st, err)
		}
		evs := sink.all()
		if len(evs) != 2 || evs[1].Type != EventResolved || evs[1].AlertID != evs[0].AlertID {
			t.Fatalf("events %+v, want the methane alert fired and closed", evs)
		}
	})
}

// TestReloadMetrics: the firing gauge follows a reload that closes
// alerts, and the engine keeps its registered metrics.
func TestReloadMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e, _ := NewEngine(testRegistry(t), nil, Options{Registerer: reg})
	e.Evaluate(at(0, 27))
	if got := metricValue(t, reg, "riskmon_alerts_active", map[string]string{"level": "2-orange"}); got != 1 {
		t.Fatalf("orange firing %g, want 1", got)
	}
	if _, err := e.Reload(gasWithSetpoints(t, 30, 40), Options{Registerer: prometheus.NewRegistry()}); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(t, reg, "riskmon_alerts_active", map[string]string{"level": "2-orange"}); got != 0 {
		t.Errorf("orange firing %g after the alert was closed, want 0", got)
	}
	e.Evaluate(at(5*time.Second, 35))
	if got := metricValue(t, reg, "riskmon_alert_evaluations_total", nil); got != 2 {
		t.Errorf("evaluations %g, want 2 across the reload", got)
	}
}

// TestReloadKeepsStaleTimers: a sensor silent before a reload is stale
// on time after it; the reload does not restart its silence.
func TestReloadKeepsStaleTimers(t *testing.T) {
	var sink collect
	e, _ := NewEngine(testRegistry(t), &sink, Options{})
	e.Evaluate(at(0, 5)) // GT-101 heard at t0
	if _, err := e.Reload(testRegistry(t), Options{}); err != nil {
		t.Fatal(err)
	}
	e.Tick(t0.Add(time.Minute)) // gas interval 5 s: stale long since
	stale := 0
	for _, ev := range sink.all() {
		if ev.Rule == RuleSensorStale && ev.Sensor == "GT-101" && ev.Type == EventFired {
			stale++
		}
	}
	if stale != 1 {
		t.Errorf("events %+v, want GT-101 stale on the first tick after the reload", sink.all())
	}
}

// TestReloadConcurrent: readings evaluated while the rules are reloaded
// are never lost nor applied to a retired rule set (run with -race).
func TestReloadConcurrent(t *testing.T) {
	var sink collect
	e, _ := NewEngine(testRegistry(t), &sink, Options{})
	var wg sync.WaitGroup
	const n = 2000
	wg.Go(func() {
		for i := range n {
			e.Evaluate(at(time.Duration(i)*time.Second, 10))
		}
	})
	wg.Go(func() {
		for range 20 {
			if _, err := e.Reload(testRegistry(t), Options{}); err != nil {
				t.Error(err)
			}
			e.Tick(t0)
			_ = e.Active()
		}
	})
	wg.Wait()
	if got := e.Stats().Evaluations; got != n {
		t.Errorf("%d evaluations, want %d", got, n)
	}
	if s := e.rules().subjects[subjectKey{"hz-01", "GT-101"}]; s.last != t0.Add((n-1)*time.Second).UnixNano() {
		t.Errorf("last reading at %s, want %s: a reading went to a retired set", unixTime(s.last), t0.Add((n-1)*time.Second))
	}
}

// TestWarm: a forecast warmed with the stored ramp fires on the first live
// reading; a cold engine is blind to the same reading. Warming raises
// nothing by itself.
func TestWarm(t *testing.T) {
	reg := testRegistry(t)
	var warmSink, coldSink collect
	warm, _ := NewEngine(reg, &warmSink, Options{})
	cold, _ := NewEngine(reg, &coldSink, Options{})
	now := t0.Add(2 * time.Minute)
	need := warm.Cold(now)
	found := false
	for _, c := range need {
		if c.Site == "hz-01" && c.Sensor == "GT-101" {
			found = c.Since.Equal(now.Add(-2 * time.Minute))
		}
	}
	if !found {
		t.Fatalf("cold sensors %+v, want GT-101 since 2 min before now", need)
	}
	// 5 %LEL rising 4 %LEL/min: 25 %LEL in about 3 min.
	for i := range 24 {
		d := time.Duration(i) * 5 * time.Second
		if !warm.Warm(at(d, 5+4*d.Minutes())) {
			t.Fatalf("warm reading %d refused", i)
		}
	}
	if evs := warmSink.all(); len(evs) != 0 {
		t.Fatalf("warming raised %+v", evs)
	}
	if warm.Warm(at(time.Minute, 9)) {
		t.Error("a warm reading older than the last was taken")
	}
	for _, c := range warm.Cold(now) {
		if c.Sensor == "GT-101" {
			t.Error("GT-101 still cold after warming")
		}
	}
	live := at(2*time.Minute, 13)
	warm.Evaluate(live)
	cold.Evaluate(live)
	if evs := warmSink.all(); len(evs) != 1 || evs[0].Rule != "combustible_gas_forecast" || evs[0].Type != EventFired {
		t.Fatalf("warmed engine: events %+v, want the forecast fired", evs)
	}
	if evs := coldSink.all(); len(evs) != 0 {
		t.Fatalf("cold engine: events %+v, want none", evs)
	}
}

// equalJSON compares two values by their JSON encoding, which sees
// exported fields only: what the snapshot carries.
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

// TestAdoptAfterCrash: the snapshot was saved at minute 7 of a for: 10m
// rule; the alert then fired at minute 10 and riskmon crashed before the
// next save. The lifecycle store has the alert open, so after Adopt the
// restored engine does not fire it a second time. An early-warning
// alert the engine has no state for is taken up and resolved under its
// own id.
func TestAdoptAfterCrash(t *testing.T) {
	reg := testRegistry(t)
	var before, after collect
	e, _ := NewEngine(reg, &before, tenMinutes)
	feed(e, 0, 7*time.Minute, 27)
	snap := e.AlertSnapshot()
	feed(e, 7*time.Minute, 11*time.Minute, 27)
	fired := before.all()
	if len(fired) != 1 {
		t.Fatalf("events %+v, want one fired", fired)
	}
	open := []Record{
		{ID: fired[0].AlertID, Rule: fired[0].Rule, Site: "hz-01", Sensor: "GT-101", State: StateActiveUnacked,
			Level: fired[0].Level, StartsAt: fired[0].StartsAt},
		{ID: alertID(RuleSensorStale, "hz-01", "GT-102", t0.UnixNano()), Rule: RuleSensorStale, Site: "hz-01", Sensor: "GT-102",
			State: StateActiveAcked, Level: sensors.LevelBlue, StartsAt: t0},
		// Cleared: nothing to take up.
		{ID: "x", Rule: "oxygen_low", Site: "hz-01", Sensor: "AT-201", State: StateClearedUnacked, Level: sensors.LevelNone, StartsAt: t0},
	}
	next, _ := NewEngine(reg, &after, tenMinutes)
	next.Restore(snap)
	if n := next.Adopt(open); n != 2 {
		t.Fatalf("adopted %d alerts, want 2", n)
	}
	feed(next, 11*time.Minute, 13*time.Minute, 27)
	next.Evaluate(sensors.Reading{Site: "hz-01", Sensor: "GT-102", Value: 1, Time: t0.Add(13 * time.Minute), Received: t0.Add(13 * time.Minute)})
	evs := after.all()
	if len(evs) != 1 || evs[0].Type != EventResolved || evs[0].Rule != RuleSensorStale || evs[0].AlertID != open[1].ID {
		t.Fatalf("events %+v, want only the stale alert %s resolved", evs, open[1].ID)
	}
	if a := next.Active(); len(a) != 1 || a[0].ID != fired[0].AlertID || a[0].State != StateFiring {
		t.Fatalf("active %+v, want %s firing", a, fired[0].AlertID)
	}
}

// TestAdoptForgetsResolved: the alert fired and was saved firing; it
// resolved before a crash and the store lists it cleared. The restored
// engine lets it go: no second resolve, and a new trip is a new alert.
func TestAdoptForgetsResolved(t *testing.T) {
	reg := testRegistry(t)
	var before, after collect
	e, _ := NewEngine(reg, &before, Options{})
	e.Evaluate(at(0, 27))
	snap := e.AlertSnapshot()
	e.Evaluate(at(5*time.Second, 5))
	evs := before.all()
	if len(evs) != 2 || evs[1].Type != EventResolved {
		t.Fatalf("events %+v, want fired and resolved", evs)
	}
	next, _ := NewEngine(reg, &after, Options{})
	next.Restore(snap)
	n := next.Adopt([]Record{{ID: evs[0].AlertID, Rule: evs[0].Rule, Site: "hz-01", Sensor: "GT-101",
		State: StateClearedUnacked, StartsAt: evs[0].StartsAt}})
	if n != 1 {
		t.Fatalf("adopt changed %d alerts, want 1", n)
	}
	next.Evaluate(at(10*time.Second, 5))
	next.Evaluate(at(15*time.Second, 27))
	got := after.all()
	if len(got) != 1 || got[0].Type != EventFired || got[0].AlertID == evs[0].AlertID {
		t.Fatalf("events %+v, want only a new alert fired", got)
	}
}

// TestWarmAfterAlertSnapshot: restored from a snapshot without windows
// (the periodic save), a sensor is cold though its last reading is
// recent; warming fills its window with readings older than that last
// one, and the forecast fires on the next live reading.
func TestWarmAfterAlertSnapshot(t *testing.T) {
	reg := testRegistry(t)
	ramp := func(d time.Duration) float64 { return 5 + 4*d.Minutes() }
	// The old engine saw only the last reading before the save (it had
	// just started), so it raised nothing the new one would inherit.
	old, _ := NewEngine(reg, nil, Options{})
	old.Evaluate(at(115*time.Second, ramp(115*time.Second)))
	var sink collect
	e, _ := NewEngine(reg, &sink, Options{})
	e.Restore(old.AlertSnapshot())
	now := t0.Add(2 * time.Minute)
	cold := false
	for _, c := range e.Cold(now) {
		cold = cold || c.Sensor == "GT-101"
	}
	if !cold {
		t.Fatal("GT-101 restored without a window is not cold")
	}
	for i := range 24 {
		d := time.Duration(i) * 5 * time.Second
		if !e.Warm(at(d, ramp(d))) {
			t.Fatalf("warm reading %d refused", i)
		}
	}
	if e.Warm(at(0, 5)) {
		t.Error("a reading older than the window's newest was taken")
	}
	e.Evaluate(at(2*time.Minute, ramp(2*time.Minute)))
	if evs := sink.all(); len(evs) != 1 || evs[0].Rule != "combustible_gas_forecast" {
		t.Fatalf("events %+v, want the forecast fired", evs)
	}
}

// FuzzRestoreSnapshot: whatever a damaged state file holds, reading it
// fails cleanly or restoring it leaves an engine that evaluates, ticks
// and reports without panicking.
func FuzzRestoreSnapshot(f *testing.F) {
	reg := fleetRegistry(f, 1)
	opts := Options{For: time.Minute, OffDelay: time.Minute,
		Groups:    []Group{{ID: "G", Site: "s-1", Sensors: []string{"co-0", "h2s-0"}, Vote: 1}},
		Composite: []CompositeRule{{ID: "C", Site: "s-1", Expr: "co_0 > 1 && h2s_0 > 1"}}}
	e, err := NewEngine(reg, nil, opts)
	if err != nil {
		// Groups need one kind; drop the group and keep the rest.
		opts.Groups = nil
		if e, err = NewEngine(reg, nil, opts); err != nil {
			f.Fatal(err)
		}
	}
	rs := fleetReadings(reg)
	for i := range 30 {
		for _, r := range rs {
			r.Time = t0.Add(time.Duration(i) * 10 * time.Second)
			r.Value = r.Value * float64(1+i%7)
			e.Evaluate(r)
		}
	}
	// The fuzzer mutates the gob body; the frame around it is made
	// valid, so that damage the checksum would catch still reaches the
	// decoder and Restore.
	var body bytes.Buffer
	if err := gob.NewEncoder(&body).Encode(e.Snapshot()); err != nil {
		f.Fatal(err)
	}
	f.Add(body.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		var head [12]byte
		binary.BigEndian.PutUint64(head[:8], uint64(len(data)))
		binary.BigEndian.PutUint32(head[8:], crc32.Checksum(data, crcTable))
		file := append(append([]byte(snapshotMagic), head[:]...), data...)
		snap, err := ReadSnapshot(bytes.NewReader(file))
		if err != nil {
			return
		}
		next, err := NewEngine(reg, nil, opts)
		if err != nil {
			t.Fatal(err)
		}
		next.Restore(snap)
		next.Adopt(nil)
		for _, r := range rs {
			r.Time = t0.Add(time.Hour)
			next.Evaluate(r)
		}
		next.Tick(t0.Add(2 * time.Hour))
		_ = next.Active()
		_ = next.Snapshot()
	})
}

// TestWarmExposure: eight hours of CO at 25 mg/m3, rebuilt from minute
// aggregates, put the 8-h TWA (20) over its limit on the first live
// reading; a cold engine has four hours to wait before the average
// counts. The warming itself raises nothing.
func TestWarmExposure(t *testing.T) {
	reg := fleetRegistry(t, 1, "co")
	var warmSink, coldSink collect
	warm, _ := NewEngine(reg, &warmSink, Options{})
	cold, _ := NewEngine(reg, &coldSink, Options{})
	now := t0.Add(8 * time.Hour)
	var need ColdSensor
	for _, c := range warm.Cold(now) {
		if c.Sensor == "co-0" {
			need = c
		}
	}
	if !need.ExposureSince.Equal(t0) {
		t.Fatalf("cold %+v, want co-0's exposure cold since 8 h before now", need)
	}
	for end := t0.Add(time.Minute); !end.After(now); end = end.Add(time.Minute) {
		if !warm.WarmExposure("s-1", "co-0", end, 25, time.Minute) {
			t.Fatalf("aggregate ending %s refused", end)
		}
	}
	if warm.WarmExposure("s-1", "co-0", now.Add(-time.Hour), 25, time.Minute) {
		t.Error("an aggregate older than the newest was taken")
	}
	if evs := warmSink.all(); len(evs) != 0 {
		t.Fatalf("warming raised %+v", evs)
	}
	for _, c := range warm.Cold(now) {
		if c.Sensor == "co-0" && !c.ExposureSince.IsZero() {
			t.Error("co-0's exposure still cold after warming")
		}
	}
	live := sensors.Reading{Site: "s-1", Sensor: "co-0", Value: 25, Time: now.Add(5 * time.Second)}
	warm.Evaluate(live)
	cold.Evaluate(live)
	var rules []string
	for _, ev := range warmSink.all() {
		rules = append(rules, ev.Rule+" "+ev.Type.String())
	}
	if len(rules) != 2 || !slices.Contains(rules, "co_twa fired") || !slices.Contains(rules, "co_high fired") {
		t.Fatalf("warmed engine: %v, want co_twa and co_high fired (25 is over CO's first setpoint too)", rules)
	}
	for _, ev := range coldSink.all() {
		if ev.Rule == "co_twa" {
			t.Fatalf("cold engine raised the TWA on one reading: %+v", ev)
		}
	}
}

// TestAdoptKeepsLastEvaluated: riskmon crashed after an alert fired and
// started without a snapshot and without a warm-up (InfluxDB down). A
// reading older than the fired one (a gateway replaying its buffer, a
// broker redelivery) must not resolve the adopted alert, or the live
// condition raises it again under a new id: a second page for one gas
// leak.
func TestAdoptKeepsLastEvaluated(t *testing.T) {
	reg := testRegistry(t)
	var before collect
	e, _ := NewEngine(reg, &before, Options{})
	e.Evaluate(at(0, 5))
	e.Evaluate(at(10*time.Second, 27))
	fired := before.all()
	if len(fired) != 1 || fired[0].Type != EventFired {
		t.Fatalf("events %+v, want one fired", fired)
	}
	rec := Record{ID: fired[0].AlertID, Rule: fired[0].Rule, Site: "hz-01", Sensor: "GT-101", State: StateActiveUnacked,
		Level: fired[0].Level, StartsAt: fired[0].StartsAt, LastAt: fired[0].At, Events: fired}
	tests := []struct {
		name string
		snap *Snapshot // the restored engine's snapshot; nil: none
	}{
		{"no snapshot", nil},
		{"snapshot older than the alert", func() *Snapshot {
			old, _ := NewEngine(reg, nil, Options{})
			old.Evaluate(at(0, 5))
			return old.AlertSnapshot()
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var after collect
			next, _ := NewEngine(reg, &after, Options{})
			if tt.snap != nil {
				next.Restore(tt.snap)
			}
			if n := next.Adopt([]Record{rec}); n != 1 {
				t.Fatalf("adopted %d alerts, want 1", n)
			}
			next.Evaluate(at(5*time.Second, 5))   // older than the fired reading
			next.Evaluate(at(20*time.Second, 27)) // the condition goes on
			if got := after.all(); len(got) != 0 {
				t.Fatalf("events %+v, want none: the adopted alert holds", got)
			}
			if a := next.Active(); len(a) != 1 || a[0].ID != rec.ID {
				t.Fatalf("active %+v, want the adopted %s", a, rec.ID)
			}
			if st := next.Stats(); st.OutOfOrder != 1 {
				t.Fatalf("out of order %d, want the older reading counted", st.OutOfOrder)
			}
		})
	}
}
