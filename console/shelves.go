package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/riskmon/riskmon/alerting/alarmtext"
	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/sensors"
)

// Shelver is the part of lifecycle.Shelves the console uses: shelving or
// taking out of service, ending a shelf early, and listing the active ones.
type Shelver interface {
	Shelve(req lifecycle.ShelfRequest) (lifecycle.Shelf, error)
	Unshelve(id, by string) (lifecycle.Shelf, error)
	Shelves() []lifecycle.Shelf
}

// shelfBody is the body of POST /api/v1/shelves. Duration is a Go
// duration ("2h", "45m"): operators think in shift hours, not seconds.
type shelfBody struct {
	Mode     lifecycle.ShelfMode `json:"mode"`
	Match    lifecycle.Matcher   `json:"match"`
	Reason   string              `json:"reason"`
	Duration string              `json:"duration"`
}

// maxReason bounds the reason text, which goes into the journal.
const maxReason = 500

// request checks what the console can check itself and builds the
// request; the Shelver decides the rest (maximum duration, matcher
// scope) and answers with an ErrBadShelf-wrapped error.
func (b shelfBody) request(by string) (lifecycle.ShelfRequest, error) {
	switch b.Mode {
	case "":
		b.Mode = lifecycle.ModeShelved // the board's button shelves
	case lifecycle.ModeShelved, lifecycle.ModeOutOfService:
	default:
		return lifecycle.ShelfRequest{}, refusal(lifecycle.RefusedMode, fmt.Errorf("mode: want %q or %q, got %q", lifecycle.ModeShelved, lifecycle.ModeOutOfService, b.Mode))
	}
	if b.Duration == "" {
		return lifecycle.ShelfRequest{}, refusal(lifecycle.RefusedDuration, errors.New(`duration: required, e.g. "2h"`))
	}
	d, err := time.ParseDuration(b.Duration)
	if err != nil || d <= 0 {
		return lifecycle.ShelfRequest{}, refusal(lifecycle.RefusedDuration, fmt.Errorf(`duration: want a positive duration such as "2h" or "30m", got %q`, b.Duration))
	}
	reason := strings.TrimSpace(b.Reason)
	if len(reason) > maxReason {
		return lifecycle.ShelfRequest{}, refusal(refusedReasonLong, fmt.Errorf("reason: at most %d bytes", maxReason))
	}
	return lifecycle.ShelfRequest{Mode: b.Mode, Match: b.Match, Reason: reason, By: by, Duration: d}, nil
}

// Refusal codes of the console's own checks, beside alerting's Refused
// codes.
const (
	refusedBody       = "body"        // the request body is not a shelf request
	refusedReasonLong = "reason_long" // the reason is longer than maxReason
)

func refusal(code string, err error) error { return &lifecycle.ShelfRefusal{Code: code, Err: err} }

// writeRefusal answers a refused shelf request with its English text and
// the code of each reason (lifecycle.RefusalCodes), which the page says in
// its operator's language.
func writeRefusal(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	codes := lifecycle.RefusalCodes(err)
	if codes == nil {
		codes = []string{}
	}
	_ = json.NewEncoder(w).Encode(struct {
		Error string   `json:"error"`
		Codes []string `json:"codes"`
	}{err.Error(), codes})
}

func (s *server) listShelves(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Shelver == nil {
		writeError(w, http.StatusNotImplemented, "this console cannot shelve alerts")
		return
	}
	list := s.opts.Shelver.Shelves()
	out := make([]shelfView, 0, len(list))
	for _, sh := range list {
		out = append(out, newShelfView(sh))
	}
	writeJSON(w, struct {
		Shelves []shelfView `json:"shelves"`
	}{out})
}

// shelfView is a shelf as the console lists it: with what its matcher
// names in words in both languages, so the list reads 可燃气体高限报警
// and 可燃气体 rather than combustible_gas_high and combustible_gas even
// when no alarm of that rule is on the board.
type shelfView struct {
	lifecycle.Shelf
	Text struct {
		ZH shelfText `json:"zh"`
		EN shelfText `json:"en"`
	} `json:"text"`
}

// shelfText names a matcher's rule and kind; empty where it has none.
type shelfText struct {
	Rule string `json:"rule,omitempty"`
	Kind string `json:"kind,omitempty"`
}

func newShelfView(sh lifecycle.Shelf) shelfView {
	v := shelfView{Shelf: sh}
	for _, l := range []struct {
		lang string
		t    *shelfText
	}{{alarmtext.Chinese, &v.Text.ZH}, {alarmtext.English, &v.Text.EN}} {
		if sh.Match.Rule != "" {
			l.t.Rule = alarmtext.RuleTitle(sh.Match.Rule, l.lang)
		}
		if sh.Match.Kind != "" {
			l.t.Kind = alarmtext.KindName(sensors.KindID(sh.Match.Kind), nil, l.lang)
		}
	}
	return v
}

func (s *server) shelve(w http.ResponseWriter, r *http.Request, p Principal) {
	if s.opts.Shelver == nil {
		writeError(w, http.StatusNotImplemented, "this console cannot shelve alerts")
		return
	}
	var body shelfBody
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeRefusal(w, http.StatusBadRequest, refusal(refusedBody,
			fmt.Errorf(`body: want {"mode": "shelved|out_of_service", "match": {"site", "sensor", "rule", "kind"}, "reason": "…", "duration": "2h"}: %w`, err)))
		return
	}
	req, err := body.request(p.Name)
	if err != nil {
		writeRefusal(w, http.StatusBadRequest, err)
		return
	}
	req.Admin = p.Role >= RoleAdmin
	sh, err := s.opts.Shelver.Shelve(req)
	if errors.Is(err, lifecycle.ErrBadShelf) {
		writeRefusal(w, http.StatusBadRequest, err)
		return
	}
	if errors.Is(err, lifecycle.ErrShelfNeedsAdmin) {
		s.log.Warn("shelve refused: needs admin rights", "user", p.Name, "role", p.Role.String(), "mode", string(req.Mode),
			"site", req.Match.Site, "sensor", req.Match.Sensor, "rule", req.Match.Rule, "kind", req.Match.Kind)
		s.opts.Auth.opts.Audit(AuditRecord{At: s.opts.Now().UTC(), Action: "shelve_refused", User: p.Name, Remote: remoteAddr(r),
			Mode: string(req.Mode), Match: &req.Match, Reason: err.Error()})
		writeRefusal(w, http.StatusForbidden, err)
		return
	}
	if err != nil {
		s.log.Error("console: shelve failed", "user", p.Name, "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.log.Info("alerts shelved", "shelf", sh.ID, "mode", string(sh.Mode), "user", p.Name, "via", p.Via,
		"site", sh.Match.Site, "sensor", sh.Match.Sensor, "rule", sh.Match.Rule, "kind", sh.Match.Kind, "expires", sh.Expires)
	match := sh.Match
	s.opts.Auth.opts.Audit(AuditRecord{At: s.opts.Now().UTC(), Action: "shelve", User: p.Name, Remote: remoteAddr(r),
		ShelfID: sh.ID, Mode: string(sh.Mode), Match: &match, Expires: sh.Expires, Reason: sh.Reason})
	s.hub.shelvesChanged()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(sh)
}

func (s *server) unshelve(w http.ResponseWriter, r *http.Request, p Principal) {
	if s.opts.Shelver == nil {
		writeError(w, http.StatusNotImplemented, "this console cannot shelve alerts")
		return
	}
	id := r.PathValue("id")
	sh, err := s.opts.Shelver.Unshelve(id, p.Name)
	if errors.Is(err, lifecycle.ErrNoShelf) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		s.log.Error("console: unshelve failed", "shelf", id, "user", p.Name, "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.log.Info("shelf ended", "shelf", id, "user", p.Name, "via", p.Via)
	s.opts.Auth.opts.Audit(AuditRecord{At: s.opts.Now().UTC(), Action: "unshelve", User: p.Name, Remote: remoteAddr(r),
		ShelfID: sh.ID, Mode: string(sh.Mode)})
	s.hub.shelvesChanged()
	writeJSON(w, sh)
}

// shelvesChanged tells open streams to have their browsers reload the
// shelves.
func (h *Hub) shelvesChanged() { h.shelfGen.Add(1) }
