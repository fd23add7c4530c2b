package alerting

import (
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// explainFleet is one methane head with the catalog's setpoints and a
// wind sensor, at one site.
func explainFleet(t *testing.T) (*sensors.Registry, *sensors.Sensor) {
	t.Helper()
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "m1", Sector: sensors.SectorCoal}}, []sensors.Sensor{
		{Site: "m1", ID: "CH4-1", Kind: "ch4", Gateway: "gw"},
		{Site: "m1", ID: "WS-1", Kind: "wind_speed", Gateway: "gw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	sn, _ := reg.Lookup("m1", "CH4-1")
	return reg, sn
}

func findRule(x Explanation, name string) (ExplainedRule, bool) {
	for _, r := range x.Rules {
		if r.Name == name {
			return r, true
		}
	}
	return ExplainedRule{}, false
}

type fakeLayers map[string]string

func (f fakeLayers) Layer(_ *sensors.Sensor, rule string) string { return f[rule] }

// TestExplain: what Explain says is what the engine runs, defaults
// filled in: timing per sensor over the kind's, the level a forecast
// fires at (yellow within 30 minutes, blue beyond; never none), rules
// turned off, the composite rules that read the sensor and not those
// that do not, and the layer of each setting.
func TestExplain(t *testing.T) {
	reg, sn := explainFleet(t)
	tests := []struct {
		name  string
		opts  Options
		rule  string
		check func(ExplainedRule) bool
	}{
		{"default forecast fires yellow", Options{}, "ch4_forecast", func(r ExplainedRule) bool {
			return !r.Off && len(r.Levels) == 1 && r.Levels[0] == sensors.LevelYellow
		}},
		{"an hour's forecast fires blue", Options{Pack: func(s *sensors.Sensor) RulePack {
			p := SensorPack(s)
			f := *p.Forecast
			f.Horizon = time.Hour
			p.Forecast = &f
			return p
		}}, "ch4_forecast", func(r ExplainedRule) bool { return len(r.Levels) == 1 && r.Levels[0] == sensors.LevelBlue }},
		{"forecast off", Options{KindPack: map[sensors.KindID]RulePack{"ch4": {}}}, "ch4_forecast", func(r ExplainedRule) bool {
			return r.Off && len(r.Levels) == 0
		}},
		{"sensor timing over the kind's", Options{
			KindFor:      map[sensors.KindID]time.Duration{"ch4": 10 * time.Second},
			KindOffDelay: map[sensors.KindID]time.Duration{"ch4": time.Minute},
			KindMOfN:     map[sensors.KindID]MOfN{"ch4": {M: 2, N: 3}},
			Threshold: func(s *sensors.Sensor, t *ThresholdTiming) {
				if s.ID == "CH4-1" {
					t.For, t.OffDelay, t.MOfN = 20*time.Second, 5*time.Second, MOfN{}
				}
			},
		}, "ch4_high", func(r ExplainedRule) bool {
			return r.OnDelay == 20*time.Second && r.OffDelay == 5*time.Second && r.MOfN.M == 0 && len(r.Setpoints) > 0
		}},
		{"composite that reads the sensor", Options{Composite: []CompositeRule{{ID: "gas_no_air", Site: "m1", Expr: "CH4_1 >= 1 && WS_1 < 0.25"}}},
			"gas_no_air", func(r ExplainedRule) bool { return r.Kind == "composite" && r.Levels[0] == sensors.LevelYellow }},
		{"stale layer named", Options{}, "sensor_stale", func(r ExplainedRule) bool { return r.Layer == "rules.yaml:3 (defaults)" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := Explain(reg, sn, tt.opts, fakeLayers{"stale": "rules.yaml:3 (defaults)"})
			r, ok := findRule(x, tt.rule)
			if !ok || !tt.check(r) {
				t.Errorf("%s: %+v (found %v)", tt.rule, r, ok)
			}
		})
	}
	x := Explain(reg, sn, Options{Composite: []CompositeRule{{ID: "wind_only", Site: "m1", Expr: "WS_1 < 0.25"}}}, nil)
	if _, ok := findRule(x, "wind_only"); ok {
		t.Error("a composite rule that does not read the sensor was explained")
	}
	if r, _ := findRule(x, "ch4_high"); r.Layer != builtIn {
		t.Errorf("no layers: %q", r.Layer)
	}
}

func TestExplainText(t *testing.T) {
	reg, sn := explainFleet(t)
	var b strings.Builder
	if err := Explain(reg, sn, Options{}, nil).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"sensor m1/CH4-1, kind ch4 (%CH4)\n", "threshold ch4_high: level ", "for 0s, off_delay 0s [built-in]\n",
		"  level 1-red above ", "forecast ch4_forecast: level 3-yellow, window 2m0s, horizon 10m0s", "rate ch4_rate: off [built-in]\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "none") {
		t.Errorf("a level reads none:\n%s", out)
	}
}
