package alerting

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/sensors"
)

func TestExposureWant(t *testing.T) {
	r := &exposureRule{limit: 10, window: 900}
	tests := []struct {
		name          string
		open          bool
		dose, covered float64
		want          bool
	}{
		{"nothing known keeps closed", false, 0, 0, false},
		{"nothing known keeps open", true, 0, 0, true},
		{"average over but under half covered", false, 11 * 400, 400, false},
		{"average over at half covered", false, 11 * 450, 450, true},
		{"average under, full window", false, 9.9 * 900, 900, false},
		{"known dose alone reaches limit x window", false, 9000, 300, true},
		{"open holds at 95 %", true, 9.5 * 900, 900, true},
		{"open resolves under 95 %", true, 9.4 * 900, 900, false},
		{"open holds on short coverage", true, 10 * 100, 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.want(tt.open, tt.dose, tt.covered); got != tt.want {
				t.Errorf("want(%v, %g, %g) = %v, want %v", tt.open, tt.dose, tt.covered, got, tt.want)
			}
		})
	}
}

func TestExposureRing(t *testing.T) {
	var ring [4]doseBucket
	var head int64
	width := int64(time.Minute)
	put := func(min int, dose float32) {
		at := t0.Add(time.Duration(min) * time.Minute).UnixNano()
		advance(ring[:], &head, width, at)
		ring[head%4].dose += dose
		ring[head%4].covered += 60
	}
	for m := range 4 {
		put(m, 1)
	}
	if d, c := total(ring[:]); d != 4 || c != 240 {
		t.Fatalf("full ring: dose %g covered %g, want 4 and 240", d, c)
	}
	put(5, 10) // minute 4 skipped, minutes 0 and 1 leave the window
	if d, c := total(ring[:]); d != 12 || c != 180 {
		t.Fatalf("after a skipped bucket: dose %g covered %g, want 12 and 180", d, c)
	}
	put(100, 2) // a long gap empties the ring
	if d, c := total(ring[:]); d != 2 || c != 60 {
		t.Fatalf("after a long gap: dose %g covered %g, want 2 and 60", d, c)
	}
}

// exposureEngine is one co sensor with exposure limits of its own (under
// its first setpoint, so the threshold rules stay quiet) and no pack.
func exposureEngine(t *testing.T, lim ExposureLimit) (*Engine, *[]Event) {
	t.Helper()
	reg := fleetRegistry(t, 1, "co")
	var got []Event
	e, err := NewEngine(reg, SinkFunc(func(ev Event) { got = append(got, ev) }), Options{
		KindPack: map[sensors.KindID]RulePack{"co": {}},
		Exposure: map[sensors.KindID]ExposureLimit{"co": lim},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e, &got
}

// segment is readings of one value every step from from to to, in
// minutes after t0 (to excluded).
type segment struct {
	from, to, step time.Duration
	v              float64
}

func TestExposureRules(t *testing.T) {
	type change struct {
		rule string
		typ  EventType
		at   time.Duration
	}
	lim := ExposureLimit{TWA: 10, STEL: 15, Basis: "PC-TWA/PC-STEL", MaxGap: 3 * time.Minute}
	tests := []struct {
		name string
		segs []segment
		want []change
	}{{
		// Covered time reaches half of 15 min at the reading of minute 8.
		name: "stel fires at half coverage, resolves after the peak leaves",
		segs: []segment{{0, 30 * time.Minute, time.Minute, 16}, {30 * time.Minute, 40 * time.Minute, time.Minute, 0}},
		want: []change{{"co_stel", EventFired, 8 * time.Minute}, {"co_stel", EventResolved, 32 * time.Minute}},
	}, {
		name: "stel fires on dose alone before half coverage",
		segs: []segment{{0, 10 * time.Minute, time.Minute, 200}},
		want: []change{{"co_stel", EventFired, 2 * time.Minute}},
	}, {
		name: "twa fires once half of 8 h is covered",
		segs: []segment{{0, 5 * time.Hour, time.Minute, 12}},
		want: []change{{"co_twa", EventFired, 4 * time.Hour}},
	}, {
		// Counting the 2-h gap as zero would give 12 × 4.5 / 6.5 = 8.3.
		name: "a gap is not counted as zero",
		segs: []segment{{0, 181 * time.Minute, time.Minute, 12}, {300 * time.Minute, 400 * time.Minute, time.Minute, 12}},
		want: []change{{"co_twa", EventFired, 360 * time.Minute}},
	}, {
		name: "readings sparser than the max gap count nothing",
		segs: []segment{{0, 10 * time.Hour, 5 * time.Minute, 100}},
	}, {
		name: "under the limits",
		segs: []segment{{0, 9 * time.Hour, time.Minute, 9}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, got := exposureEngine(t, lim)
			for _, sg := range tt.segs {
				for d := sg.from; d < sg.to; d += sg.step {
					e.Evaluate(sensors.Reading{Site: "s-1", Sensor: "co-0", Time: t0.Add(d), Value: sg.v})
				}
			}
			var have []change
			for _, ev := range *got {
				if !strings.HasSuffix(ev.Rule, "_twa") && !strings.HasSuffix(ev.Rule, "_stel") {
					continue // the threshold rules of the high cases
				}
				have = append(have, change{ev.Rule, ev.Type, ev.At.Sub(t0)})
			}
			if len(have) != len(tt.want) {
				t.Fatalf("events %v, want %v", have, tt.want)
			}
			for i := range have {
				if have[i] != tt.want[i] {
					t.Errorf("event %d: %v, want %v", i, have[i], tt.want[i])
				}
			}
		})
	}
}

func TestExposureEvent(t *testing.T) {
	e, got := exposureEngine(t, ExposureLimit{STEL: 15, Basis: "PC-TWA/PC-STEL", MaxGap: time.Minute})
	for m := range 9 {
		e.Evaluate(sensors.Reading{Site: "s-1", Sensor: "co-0", Time: t0.Add(time.Duration(m) * time.Minute), Value: 16})
	}
	if len(*got) != 1 {
		t.Fatalf("events %+v, want one", *got)
	}
	ev := (*got)[0]
	if ev.Rule != "co_stel" || ev.Level != sensors.LevelOrange || ev.Value != 16 || ev.Setpoint != 15 || ev.Unit != "mg/m3" {
		t.Errorf("event %+v", ev)
	}
	if want := "co co-0 at s-1: 15-min average 16 mg/m3 over 8m0s of readings, at or above the PC-STEL of 15 mg/m3"; ev.Message != want {
		t.Errorf("message %q\nwant    %q", ev.Message, want)
	}
	act := e.Active()
	if len(act) != 1 || act[0].Rule != "co_stel" || act[0].ID != ev.AlertID || !act[0].Since.Equal(ev.StartsAt) {
		t.Errorf("active %+v", act)
	}
}

func TestExposureDefaults(t *testing.T) {
	reg := fleetRegistry(t, 1, "co", "nh3", "so2", "h2s", "cl2", "combustible_gas")
	tests := []struct {
		name string
		opts Options
		want map[sensors.KindID]string // kind => "twa stel" rule ids
	}{
		{"defaults", Options{}, map[sensors.KindID]string{
			"co": "co_twa 20 co_stel 30", "nh3": "nh3_twa 20 nh3_stel 30", "so2": "so2_twa 5 so2_stel 10",
			"h2s": "h2s_stel 10", "cl2": "cl2_stel 1", "combustible_gas": ""}},
		{"empty map turns them off", Options{Exposure: map[sensors.KindID]ExposureLimit{}}, map[sensors.KindID]string{
			"co": "", "nh3": "", "so2": "", "h2s": "", "cl2": "", "combustible_gas": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewEngine(reg, nil, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range e.rules().subjects {
				var ids []string
				if x := s.exp; x != nil {
					for _, r := range []*exposureRule{x.twaRule, x.stelRule} {
						if r != nil {
							ids = append(ids, r.id, formatValue(r.limit))
						}
					}
				}
				if got := strings.Join(ids, " "); got != tt.want[s.kind] {
					t.Errorf("%s: %q, want %q", s.kind, got, tt.want[s.kind])
				}
			}
		})
	}
}

func TestExposureErrors(t *testing.T) {
	reg := fleetRegistry(t, 1, "co")
	for _, lim := range []ExposureLimit{{TWA: -1}, {STEL: 1, Level: 7}, {TWA: 1, MaxGap: -time.Second}} {
		_, err := NewEngine(reg, nil, Options{Exposure: map[sensors.KindID]ExposureLimit{"co": lim}})
		if err == nil || !strings.Contains(err.Error(), "exposure") {
			t.Errorf("%+v: error %v, want an exposure error", lim, err)
		}
	}
}

// toxicEngine is one co sensor with its default rules, warmed up past
// its start-up transitions at a steady value under every limit.
func toxicEngine(tb testing.TB) (*Engine, func(i int)) {
	reg := fleetRegistry(tb, 1, "co")
	e, err := NewEngine(reg, nil, Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		tb.Fatal(err)
	}
	step := func(i int) {
		e.Evaluate(sensors.Reading{Site: "s-1", Sensor: "co-0", Time: t0.Add(time.Duration(i) * 5 * time.Second),
			Value: 5 + 0.1*float64(i%5)})
	}
	return e, step
}

func TestEvaluateExposureDoesNotAllocate(t *testing.T) {
	e, step := toxicEngine(t)
	i := 0
	for ; i < 1000; i++ {
		step(i)
	}
	if n := testing.AllocsPerRun(1000, func() { step(i); i++ }); n != 0 {
		t.Errorf("Evaluate allocates %g times per reading with exposure rules", n)
	}
	if s := e.Stats(); s.Fired != 0 {
		t.Errorf("alerts fired: %+v", s)
	}
}

// BenchmarkEvaluateToxic is a co detector with its default rules:
// threshold, forecast, stale, 8-h TWA and 15-min STEL.
func BenchmarkEvaluateToxic(b *testing.B) {
	_, step := toxicEngine(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		step(i)
	}
}

// TestExposureInSensorUnit: a CO detector reporting in ppm is held to the
// mg/m3 limits converted into ppm, so in the same air it raises co_stel
// with its twin in mg/m3 (27 ppm is 31.5 mg/m3 at 20 °C, over a 30 mg/m3
// STEL) and stays quiet where the twin does (20 ppm, 23.3 mg/m3).
func TestExposureInSensorUnit(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "s-1", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "co-mg", Site: "s-1", Kind: "co"}, {ID: "co-ppm", Site: "s-1", Kind: "co", Unit: "ppm"}})
	if err != nil {
		t.Fatal(err)
	}
	ppm, _ := reg.Lookup("s-1", "co-ppm")
	mgPerPPM, ok := ppm.KindInfo().FromOwnUnit(1)
	if !ok {
		t.Fatal("no conversion for a CO sensor in ppm")
	}
	mgPerPPM = 1 / mgPerPPM
	tests := []struct {
		name string
		ppm  float64
		want bool
	}{
		{"over the STEL in both units", 27, true},
		{"under it in both units", 20, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []Event
			e, err := NewEngine(reg, SinkFunc(func(ev Event) { got = append(got, ev) }),
				Options{Exposure: map[sensors.KindID]ExposureLimit{"co": {TWA: 20, STEL: 30, Basis: "PC-TWA/PC-STEL"}}})
			if err != nil {
				t.Fatal(err)
			}
			for d := time.Duration(0); d < 20*time.Minute; d += 5 * time.Second {
				e.Evaluate(sensors.Reading{Site: "s-1", Sensor: "co-ppm", Time: t0.Add(d), Value: tc.ppm})
				e.Evaluate(sensors.Reading{Site: "s-1", Sensor: "co-mg", Time: t0.Add(d), Value: tc.ppm * mgPerPPM})
			}
			stel := map[string]bool{}
			for _, ev := range got {
				if ev.Rule == "co_stel" && ev.Type == EventFired {
					stel[ev.Sensor] = true
				}
			}
			if stel["co-ppm"] != tc.want || stel["co-mg"] != tc.want {
				t.Errorf("co_stel fired: ppm sensor %v, mg/m3 sensor %v; want %v for both", stel["co-ppm"], stel["co-mg"], tc.want)
			}
		})
	}
}
