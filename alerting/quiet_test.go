package alerting

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// TestQuietGateways checks which gateways QuietGateways names, judged on
// receive times: at least two sensors under a sensor_stale rule heard
// from, none for the shortest of their stale limits; a gateway's name
// counts per site.
func TestQuietGateways(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(),
		[]sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}, {ID: "hz-02", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{
			{ID: "GT-1", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw-a"},
			{ID: "GT-2", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw-a"},
			{ID: "GT-3", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw-b"},
			{ID: "GT-4", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw-b"},
			{ID: "AT-1", Site: "hz-01", Kind: "oxygen", Gateway: "gw-b"},
			{ID: "GT-5", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw-c"},
			{ID: "LT-1", Site: "hz-01", Kind: "tank_level", Gateway: "gw-c"}, // no stale rule
			{ID: "GT-1", Site: "hz-02", Kind: "combustible_gas", Gateway: "gw-a"},
			{ID: "GT-2", Site: "hz-02", Kind: "combustible_gas", Gateway: "gw-a"},
		})
	if err != nil {
		t.Fatal(err)
	}
	// Both kinds report every 5 s: gas is stale after 20 s, oxygen after 10.
	const gas, ox = 20 * time.Second, 10 * time.Second
	opts := Options{
		Pack: func(*sensors.Sensor) RulePack { return RulePack{} },
		KindPack: map[sensors.KindID]RulePack{
			"combustible_gas": {Stale: &StaleConfig{Factor: 4}},
			"oxygen":          {Stale: &StaleConfig{Factor: 2}},
		},
	}
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	type heard struct {
		site, sensor string
		at           time.Duration // after t0
	}
	quiet := func(site, gw string, sensors int, since, limit time.Duration) QuietGateway {
		return QuietGateway{Site: site, Gateway: gw, Sensors: sensors, Since: t0.Add(since), Limit: limit}
	}
	for _, tt := range []struct {
		name  string
		heard []heard
		at    time.Duration
		want  []QuietGateway
	}{
		{
			name:  "just inside the limit",
			heard: []heard{{"hz-01", "GT-1", 0}, {"hz-01", "GT-2", 0}},
			at:    gas - time.Nanosecond,
		},
		{
			name:  "silent for the limit",
			heard: []heard{{"hz-01", "GT-1", 0}, {"hz-01", "GT-2", 0}},
			at:    gas,
			want:  []QuietGateway{quiet("hz-01", "gw-a", 2, 0, gas)},
		},
		{
			name:  "one sensor still reports",
			heard: []heard{{"hz-01", "GT-1", 0}, {"hz-01", "GT-2", 15 * time.Second}},
			at:    gas + time.Second,
		},
		{
			name:  "the last reading of any sensor counts",
			heard: []heard{{"hz-01", "GT-1", 0}, {"hz-01", "GT-2", 15 * time.Second}},
			at:    15*time.Second + gas,
			want:  []QuietGateway{quiet("hz-01", "gw-a", 2, 15*time.Second, gas)},
		},
		{
			name:  "the shortest limit of the gateway's sensors",
			heard: []heard{{"hz-01", "GT-3", 0}, {"hz-01", "GT-4", 0}, {"hz-01", "AT-1", 0}},
			at:    ox,
			want:  []QuietGateway{quiet("hz-01", "gw-b", 3, 0, ox)},
		},
		{
			name:  "sensors never heard from do not count",
			heard: []heard{{"hz-01", "GT-3", 0}, {"hz-01", "GT-4", 0}},
			at:    gas,
			want:  []QuietGateway{quiet("hz-01", "gw-b", 2, 0, gas)},
		},
		{
			name:  "one sensor is not a gateway's silence",
			heard: []heard{{"hz-01", "GT-5", 0}, {"hz-01", "LT-1", 0}, {"hz-01", "GT-3", 0}},
			at:    time.Hour,
		},
		{
			name: "a gateway's name counts per site, sorted",
			heard: []heard{{"hz-02", "GT-1", 0}, {"hz-02", "GT-2", time.Second},
				{"hz-01", "GT-1", 0}, {"hz-01", "GT-2", 0}, {"hz-01", "GT-3", 0}, {"hz-01", "GT-4", 0}},
			at: time.Minute,
			want: []QuietGateway{quiet("hz-01", "gw-a", 2, 0, gas), quiet("hz-01", "gw-b", 2, 0, gas),
				quiet("hz-02", "gw-a", 2, time.Second, gas)},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewEngine(reg, nil, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range tt.heard {
				s, ok := reg.Lookup(h.site, h.sensor)
				if !ok {
					t.Fatalf("%s/%s not in the registry", h.site, h.sensor)
				}
				at := t0.Add(h.at)
				e.Evaluate(sensors.Reading{Site: h.site, Sensor: h.sensor, Kind: s.Kind, Value: 1, Time: at, Received: at, Ref: s})
			}
			got := e.QuietGateways(t0.Add(tt.at))
			same := func(a, b QuietGateway) bool {
				return a.Site == b.Site && a.Gateway == b.Gateway && a.Sensors == b.Sensors &&
					a.Since.Equal(b.Since) && a.Limit == b.Limit
			}
			if !slices.EqualFunc(got, tt.want, same) {
				t.Errorf("QuietGateways at +%s:\n got %+v\nwant %+v", tt.at, got, tt.want)
			}
		})
	}
}

// heardFleet is the bench's fleet in an engine with the default rules:
// 1,000 sites with a gateway of 20 gas detectors each, every one heard
// from at now.
func heardFleet(b *testing.B, now time.Time) *Engine {
	b.Helper()
	var sites []sensors.Site
	var ss []sensors.Sensor
	for g := range 1000 {
		site := fmt.Sprintf("site-%04d", g)
		sites = append(sites, sensors.Site{ID: site, Sector: sensors.SectorHazchem})
		for i := range 20 {
			ss = append(ss, sensors.Sensor{ID: fmt.Sprintf("GT-%03d", i), Site: site, Kind: "combustible_gas", Gateway: "gw-" + site})
		}
	}
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), sites, ss)
	if err != nil {
		b.Fatal(err)
	}
	e, err := NewEngine(reg, nil, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range reg.Sensors() {
		e.Evaluate(sensors.Reading{Site: s.Site, Sensor: s.ID, Kind: s.Kind, Value: 1, Time: now, Received: now, Ref: s})
	}
	return e
}

// BenchmarkQuietGateways is the service's once-a-second scan for quiet
// gateways over the bench's fleet, none of them quiet.
func BenchmarkQuietGateways(b *testing.B) {
	now := time.Now()
	e := heardFleet(b, now)
	for b.Loop() {
		if q := e.QuietGateways(now); len(q) != 0 {
			b.Fatalf("%d quiet gateways", len(q))
		}
	}
}

// BenchmarkTickFleet is the engine's once-a-second tick over the bench's
// fleet, every sensor fresh.
func BenchmarkTickFleet(b *testing.B) {
	now := time.Now()
	e := heardFleet(b, now)
	for b.Loop() {
		e.Tick(now)
	}
}
