package console

import (
	"net/http"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/alarmtext"
	"github.com/riskmon/riskmon/sensors"
)

// RuleExplainer tells which rules evaluate a sensor, as the engine in
// force reads them (alerting.Explain with the service's options and rule
// files); false for a sensor not in the registry.
type RuleExplainer interface {
	Explain(site, sensor string) (alerting.Explanation, bool)
}

// SensorRules is GET /api/v1/sites/{site}/sensors/{sensor}/rules: the
// rules a sensor is evaluated by, what `riskmon rules show` prints.
type SensorRules struct {
	Site   string         `json:"site"`
	Sensor string         `json:"sensor"`
	Kind   sensors.KindID `json:"kind"`
	Unit   string         `json:"unit"`
	Rules  []SensorRule   `json:"rules"`
}

// SensorRule is one rule of a sensor. Durations are Go durations as text
// ("30s", "2m0s"); zero ones are left out.
type SensorRule struct {
	Name string `json:"name"`
	// Title is what the rule watches in words, in both languages; a rule
	// file's own rule keeps its id.
	Title sensors.Text `json:"title"`
	Kind  string       `json:"kind"`
	Off   bool         `json:"off,omitempty"`
	// Levels are the levels the rule raises, most severe last, as
	// numbers (1 red … 4 blue).
	Levels    []int            `json:"levels,omitempty"`
	Setpoints []SensorSetpoint `json:"setpoints,omitempty"`
	OnDelay   string           `json:"on_delay,omitempty"`
	OffDelay  string           `json:"off_delay,omitempty"`
	MOfN      *RuleMOfN        `json:"m_of_n,omitempty"`
	Window    string           `json:"window,omitempty"`
	Settings  []RuleSetting    `json:"settings,omitempty"`
	// Layer is where the settings came from: a rule file's place and
	// layer, or "built-in".
	Layer string `json:"layer,omitempty"`
	Note  string `json:"note,omitempty"`
}

// RuleMOfN says a level counts only when M of the last N readings trip it.
type RuleMOfN struct {
	M int `json:"m"`
	N int `json:"n"`
}

// RuleSetting is one of a rule's other parameters, as text.
type RuleSetting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// SensorSetpoint is a threshold rule's trip and restore value at a level.
type SensorSetpoint struct {
	Level     sensors.Level `json:"level"`
	Direction string        `json:"direction"`
	Value     float64       `json:"value"`
	Clear     float64       `json:"clear"`
	Source    string        `json:"source,omitempty"`
}

// sensorRules is GET /api/v1/sites/{site}/sensors/{sensor}/rules.
func (s *server) sensorRules(w http.ResponseWriter, r *http.Request) {
	if s.opts.Rules == nil {
		writeError(w, http.StatusNotImplemented, "this console does not see the rules")
		return
	}
	site, sensor := r.PathValue("site"), r.PathValue("sensor")
	x, ok := s.opts.Rules.Explain(site, sensor)
	if !ok {
		writeError(w, http.StatusNotFound, "no such sensor: "+site+"/"+sensor)
		return
	}
	writeJSON(w, sensorRulesOf(x))
}

// sensorRulesOf is the API form of an explanation.
func sensorRulesOf(x alerting.Explanation) SensorRules {
	out := SensorRules{Site: x.Site, Sensor: x.Sensor, Kind: x.Kind, Unit: x.Unit, Rules: make([]SensorRule, 0, len(x.Rules))}
	dur := func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return d.String()
	}
	for _, r := range x.Rules {
		sr := SensorRule{
			Name:  r.Name,
			Title: sensors.Text{ZH: alarmtext.RuleTitle(r.Name, alarmtext.Chinese), EN: alarmtext.RuleTitle(r.Name, alarmtext.English)},
			Kind:  r.Kind, Off: r.Off, Layer: r.Layer, Note: r.Note,
			OnDelay: dur(r.OnDelay), OffDelay: dur(r.OffDelay), Window: dur(r.Window),
		}
		for _, l := range r.Levels {
			// As numbers: a []sensors.Level, bytes, would encode as base64.
			sr.Levels = append(sr.Levels, int(l))
		}
		if r.MOfN.M > 0 {
			sr.MOfN = &RuleMOfN{M: r.MOfN.M, N: r.MOfN.N}
		}
		for _, st := range r.Settings {
			sr.Settings = append(sr.Settings, RuleSetting{Name: st.Name, Value: st.Value})
		}
		for _, sp := range r.Setpoints {
			sr.Setpoints = append(sr.Setpoints, SensorSetpoint{Level: sp.Level, Direction: sp.Direction.String(),
				Value: sp.Value, Clear: sp.Clear, Source: sp.Source})
		}
		out.Rules = append(out.Rules, sr)
	}
	return out
}
