package console

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// explainFunc adapts a function to a RuleExplainer.
type explainFunc func(site, sensor string) (alerting.Explanation, bool)

func (f explainFunc) Explain(site, sensor string) (alerting.Explanation, bool) {
	return f(site, sensor)
}

// engineRules explains reg's sensors as an engine with the default
// options reads them.
func engineRules(reg *sensors.Registry) explainFunc {
	return func(site, sensor string) (alerting.Explanation, bool) {
		sn, ok := reg.Lookup(site, sensor)
		if !ok {
			return alerting.Explanation{}, false
		}
		return alerting.Explain(reg, sn, alerting.Options{}, nil), true
	}
}

// explainer is a RuleExplainer that knows one sensor.
type explainer struct{ x alerting.Explanation }

func (e explainer) Explain(site, sensor string) (alerting.Explanation, bool) {
	return e.x, site == e.x.Site && sensor == e.x.Sensor
}

// TestSensorRules: the sensor page's rules come from the engine's
// explanation, with each rule's title in both languages, its setpoints,
// timing and layer; an unknown sensor is a 404 and a console without the
// rules answers 501.
func TestSensorRules(t *testing.T) {
	x := alerting.Explanation{Site: "plant-a", Sensor: "gas-1", Kind: "combustible_gas", Unit: "%LEL", Rules: []alerting.ExplainedRule{
		{Name: "combustible_gas_high", Kind: "threshold", Levels: []sensors.Level{sensors.LevelOrange, sensors.LevelRed},
			Setpoints: []sensors.Setpoint{{Level: sensors.LevelOrange, Direction: sensors.Above, Value: 25, Clear: 23, Source: "GB/T 50493-2019"}},
			OnDelay:   10 * time.Second, MOfN: alerting.MOfN{M: 2, N: 3}, Layer: "rules.yaml:13 (kind)"},
		{Name: "combustible_gas_forecast", Kind: "forecast", Levels: []sensors.Level{sensors.LevelYellow}, Window: 2 * time.Minute,
			Settings: []alerting.Setting{{Name: "horizon", Value: "10m0s"}}, Layer: "built-in"},
	}}
	h := NewHub(testRegistry(t), HubOptions{})
	tests := []struct {
		name string
		opts Options
		path string
		code int
	}{
		{"known sensor", Options{Rules: explainer{x}}, "/api/v1/sites/plant-a/sensors/gas-1/rules", http.StatusOK},
		{"unknown sensor", Options{Rules: explainer{x}}, "/api/v1/sites/plant-a/sensors/nope/rules", http.StatusNotFound},
		{"no rules wired", Options{}, "/api/v1/sites/plant-a/sensors/gas-1/rules", http.StatusNotImplemented},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(t, Handler(h, tc.opts), tc.path)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if tc.code != http.StatusOK {
				return
			}
			var got SensorRules
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.Sensor != "gas-1" || len(got.Rules) != 2 {
				t.Fatalf("rules %+v", got)
			}
			th, fc := got.Rules[0], got.Rules[1]
			if th.Title.ZH != "可燃气体高限报警" || th.Title.EN == "" || th.OnDelay != "10s" || th.MOfN == nil || th.MOfN.M != 2 ||
				len(th.Setpoints) != 1 || th.Setpoints[0].Value != 25 || th.Setpoints[0].Direction != sensors.Above.String() ||
				th.Layer != "rules.yaml:13 (kind)" || len(th.Levels) != 2 || th.Levels[0] != int(sensors.LevelOrange) {
				t.Errorf("threshold rule %+v", th)
			}
			if fc.Window != "2m0s" || len(fc.Settings) != 1 || fc.Settings[0].Name != "horizon" || fc.OnDelay != "" || fc.Title.ZH == fc.Name {
				t.Errorf("forecast rule %+v", fc)
			}
		})
	}
}
