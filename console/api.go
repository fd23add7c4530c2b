package console

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/ingest"
)

// The service's own views (rule states, the operator's worklist, the
// recent events, dead letters, reload) live beside the board's, so the
// whole API has one version, one authorisation scheme and JSON errors.

// RuleStates lists the rule states that are pending or firing now: the
// engine's and the condition alerts'.
type RuleStates interface {
	Active() []alerting.Alert
}

// Worklist is the alert lifecycle's list an operator works from;
// *lifecycle.Lifecycle satisfies it.
type Worklist interface {
	Open() []alerting.Record
}

// EventSource keeps the most recent alert events in memory.
type EventSource interface {
	// Events returns the kept events, oldest first, at or after since
	// (the events' device time) unless since is zero.
	Events(since time.Time) []alerting.Event
}

// DeadLetters is the dead-letter store of rejected messages;
// *ingest.DeadLetter satisfies it.
type DeadLetters interface {
	Recent() []ingest.DeadLetterEntry
	Total() int64
	Dropped() int64
	Capped() map[string]int64
}

// Reloader reads the rules and the sensor registry again for an admin;
// by and remote say who asked, for the journal.
type Reloader interface {
	Reload(ctx context.Context, by, remote string) (ReloadResult, error)
}

// ErrNoReloadSource is a Reloader's error when there is nothing to read
// again (the service was not started from a configuration file).
var ErrNoReloadSource = errors.New("reload: the service was not started from a configuration file")

// ReloadResult is the body of POST /api/v1/admin/reload: what a reload
// carried over.
type ReloadResult struct {
	Sensors int `json:"sensors"`
	alerting.RestoreStats
	// NewSensors are in the new registry but were not in the one before:
	// ingest accepts their readings from now on.
	NewSensors []string `json:"new_sensors,omitempty"`
}

// ruleStates is GET /api/v1/rule-states.
func (s *server) ruleStates(w http.ResponseWriter, _ *http.Request) {
	if s.opts.RuleStates == nil {
		writeError(w, http.StatusNotImplemented, "this console does not see the rule states")
		return
	}
	out := s.opts.RuleStates.Active()
	if out == nil {
		out = []alerting.Alert{}
	}
	writeJSON(w, out)
}

// worklist is GET /api/v1/worklist.
func (s *server) worklist(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Worklist == nil {
		writeError(w, http.StatusNotImplemented, "this console does not see the alert lifecycle")
		return
	}
	writeJSON(w, s.opts.Worklist.Open())
}

// events is GET /api/v1/events[?since=RFC3339].
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	if s.opts.Events == nil {
		writeError(w, http.StatusNotImplemented, "this console keeps no event history")
		return
	}
	since, err := parseTime(r.URL.Query().Get("since"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "since: "+err.Error())
		return
	}
	writeJSON(w, s.opts.Events.Events(since))
}

// deadLetterView is one entry of GET /api/v1/deadletter. An anonymous
// caller (no account configured) gets no payload: rejected messages can
// carry whatever a gateway or a stranger published.
type deadLetterView struct {
	ingest.DeadLetterEntry
	PayloadWithheld bool `json:"payload_withheld,omitempty"`
}

// deadLetterPage is the body of GET /api/v1/deadletter. The file is named
// without its directory, which tells a network caller nothing of the host.
type deadLetterPage struct {
	Total   int64            `json:"total"`
	Dropped int64            `json:"dropped"`
	Capped  map[string]int64 `json:"capped"`
	File    string           `json:"file"`
	Recent  []deadLetterView `json:"recent"`
}

// deadLetters lists the recent rejected messages; ?gateway=site/gw and
// ?reason=R keep the entries of one gateway, or with that reason for the
// message or one of its readings.
func (s *server) deadLetters(w http.ResponseWriter, r *http.Request, p Principal) {
	dl := s.opts.DeadLetters
	if dl == nil {
		writeError(w, http.StatusNotImplemented, "this console does not see the dead letters")
		return
	}
	recent := dl.Recent()
	gw, reason := r.URL.Query().Get("gateway"), ingest.Reason(r.URL.Query().Get("reason"))
	out := make([]deadLetterView, 0, len(recent))
	for _, e := range recent {
		if (gw != "" && e.Gateway != gw) || (reason != "" && !e.HasReason(reason)) {
			continue
		}
		v := deadLetterView{DeadLetterEntry: e}
		if p.Via == "" { // anonymous: the console is open
			v.Payload, v.PayloadBase64, v.Truncated = "", "", false
			v.PayloadWithheld = e.Payload != "" || e.PayloadBase64 != ""
		}
		out = append(out, v)
	}
	writeJSON(w, deadLetterPage{Total: dl.Total(), Dropped: dl.Dropped(), Capped: dl.Capped(), File: s.opts.DeadLetterFile, Recent: out})
}

// reload is POST /api/v1/admin/reload: an admin reloads the rules and the
// registry; the Reloader journals it as an operator action.
func (s *server) reload(w http.ResponseWriter, r *http.Request, p Principal) {
	if s.opts.Reloader == nil {
		writeError(w, http.StatusNotImplemented, strings.TrimPrefix(ErrNoReloadSource.Error(), "reload: "))
		return
	}
	res, err := s.opts.Reloader.Reload(r.Context(), p.Name, remoteAddr(r))
	switch {
	case errors.Is(err, ErrNoReloadSource):
		writeError(w, http.StatusNotImplemented, strings.TrimPrefix(err.Error(), "reload: "))
		return
	case err != nil:
		writeError(w, http.StatusUnprocessableEntity, strings.TrimPrefix(err.Error(), "reload: "))
		return
	}
	writeJSON(w, res)
}
