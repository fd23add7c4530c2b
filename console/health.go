package console

import (
	"net/http"

	"github.com/riskmon/riskmon/alerting"
)

// HealthSource is the alarm-system health the console shows;
// *alerting.Health satisfies it.
type HealthSource interface {
	Snapshot() alerting.HealthSnapshot
}

// floodLine is ISA-18.2's flood: more than 10 alarms in 10 minutes.
const floodLine = 10

// alarmHealth is the body of GET /api/v1/alarm-health: the health figures,
// the day's rate among them, and the flood line to draw it against.
type alarmHealth struct {
	alerting.HealthSnapshot
	FloodLine int `json:"flood_line"`
}

func (s *server) alarmHealth(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Health == nil {
		writeError(w, http.StatusNotImplemented, "this console has no alarm-system health")
		return
	}
	writeJSON(w, alarmHealth{HealthSnapshot: s.opts.Health.Snapshot(), FloodLine: floodLine})
}
