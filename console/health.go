package console

import (
	"net/http"

	"github.com/riskmon/riskmon/alerting/alarmtext"
	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/sensors"
)

// HealthSource is the alarm-system health the console shows;
// *lifecycle.Health satisfies it.
type HealthSource interface {
	Snapshot() lifecycle.HealthSnapshot
}

// floodLine is ISA-18.2's flood: more than 10 alarms in 10 minutes.
const floodLine = 10

// alarmHealth is the body of GET /api/v1/alarm-health: the health figures,
// the day's rate among them, and the flood line to draw it against.
type alarmHealth struct {
	lifecycle.HealthSnapshot
	FloodLine int `json:"flood_line"`
	// RuleNames names the rules of the lists in words, per language, so
	// the Chinese page shows no rule id.
	RuleNames map[string]sensors.Text `json:"rule_names"`
}

func (s *server) alarmHealth(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Health == nil {
		writeError(w, http.StatusNotImplemented, "this console has no alarm-system health")
		return
	}
	snap := s.opts.Health.Snapshot()
	names := map[string]sensors.Text{}
	for _, list := range [][]lifecycle.BadActor{snap.TopRules, snap.Chattering} {
		for _, a := range list {
			names[a.Rule] = sensors.Text{ZH: alarmtext.RuleTitle(a.Rule, alarmtext.Chinese), EN: alarmtext.RuleTitle(a.Rule, alarmtext.English)}
		}
	}
	writeJSON(w, alarmHealth{HealthSnapshot: snap, FloodLine: floodLine, RuleNames: names})
}
