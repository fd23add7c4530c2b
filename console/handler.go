package console

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/sensors"
)

//go:embed web
var webFS embed.FS

// Options tune the HTTP side of the console. The zero value is usable.
type Options struct {
	// StaleFactor is how many reporting intervals of its kind a sensor may
	// stay silent before it shows as stale. Default 3.
	StaleFactor int
	// MaxLimit caps the limit parameter of list requests. Default 1000.
	MaxLimit int
	// Heartbeat is how often an idle stream sends a comment, so proxies
	// and browsers do not time the connection out. Default 15s.
	Heartbeat time.Duration
	// ReadingsEvery is how often a stream sends the readings that changed,
	// coalescing bursts into one update per sensor. Default 1s.
	ReadingsEvery time.Duration
	// WriteTimeout bounds each write to a stream, so a browser that stopped
	// reading frees its goroutine. Default 30s.
	WriteTimeout time.Duration
	// Now is the clock staleness is judged against; default time.Now.
	Now func() time.Time
	// Auth holds the accounts and sessions; nil is an open, read-only
	// console (no account configured).
	Auth *Auth
	// Acker acknowledges alerts; nil means the board cannot acknowledge.
	Acker Acker
	// Shelver shelves alerts and takes sensors out of service; nil turns
	// the feature off (the shelf endpoints answer 501).
	Shelver Shelver
	// Health gives the alarm-system figures; nil: /api/v1/alarm-health
	// answers 501.
	Health HealthSource
	// Series reads a sensor's stored readings for the sensor page; nil:
	// the series endpoint answers 501 and the page draws no chart.
	Series SeriesSource
	// Rules tells the rules that evaluate a sensor; nil: GET
	// /api/v1/sites/{site}/sensors/{sensor}/rules answers 501 and the
	// sensor page lists none.
	Rules RuleExplainer
	// RuleStates lists the pending and firing rule states; nil: GET
	// /api/v1/rule-states answers 501.
	RuleStates RuleStates
	// Worklist is the alert lifecycle's open list; nil: GET
	// /api/v1/worklist answers 501.
	Worklist Worklist
	// Events keeps the recent alert events (the service passes the Hub,
	// whose stream ring is its one event history); nil: GET /api/v1/events
	// answers 501.
	Events EventSource
	// DeadLetters holds the rejected messages, DeadLetterFile the base
	// name of their file; nil: GET /api/v1/deadletter answers 501.
	DeadLetters    DeadLetters
	DeadLetterFile string
	// Reloader reloads the rules and the registry; nil: POST
	// /api/v1/admin/reload answers 501.
	Reloader Reloader
	// Logger receives request errors and dropped streams; nil discards.
	Logger *slog.Logger
}

// Acker is the part of the alert lifecycle (lifecycle.Lifecycle) the console
// writes through: acknowledging. What it reads of the lifecycle comes
// through the hub (HubOptions.Alerts).
type Acker interface {
	Ack(id, user, comment string) (alerting.Record, error)
}

func (o *Options) defaults() {
	if o.StaleFactor <= 0 {
		o.StaleFactor = 3
	}
	if o.MaxLimit <= 0 {
		o.MaxLimit = 1000
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.ReadingsEvery <= 0 {
		o.ReadingsEvery = time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Auth == nil {
		// Cannot fail without users.
		o.Auth, _ = NewAuth(AuthOptions{Logger: o.Logger})
	}
}

// defaultLimit is the page size when a list request names none.
const defaultLimit = 100

type server struct {
	hub  *Hub
	opts Options
	log  *slog.Logger
}

// Handler serves the riskmon API under /api/v1/ (and its deprecated
// unversioned aliases under /api/) and the web console at /.
// The console's pages use relative URLs, so the handler may also be
// mounted under a prefix with http.StripPrefix.
func Handler(h *Hub, opts Options) http.Handler {
	opts.defaults()
	s := &server{hub: h, opts: opts, log: opts.Logger}
	mux := http.NewServeMux()
	a := opts.Auth
	mux.HandleFunc("GET /api/v1/me", a.serveMe)
	mux.HandleFunc("POST /api/v1/login", jsonOnly(a.serveLogin))
	mux.HandleFunc("POST /api/v1/logout", a.Require(RoleViewer, a.serveLogout))
	mux.HandleFunc("POST /api/v1/alerts/{id}/ack", a.Require(RoleOperator, s.ack))
	mux.HandleFunc("GET /api/v1/alerts", viewer(a, s.listAlerts))
	mux.HandleFunc("GET /api/v1/alerts/{id}", viewer(a, s.getAlert))
	mux.HandleFunc("GET /api/v1/sites", viewer(a, s.listSites))
	mux.HandleFunc("GET /api/v1/sites/{site}/sensors", viewer(a, s.siteSensors))
	mux.HandleFunc("GET /api/v1/sites/{site}/sensors/{sensor}/series", viewer(a, s.sensorSeries))
	mux.HandleFunc("GET /api/v1/sites/{site}/sensors/{sensor}/events", viewer(a, s.sensorEvents))
	mux.HandleFunc("GET /api/v1/sites/{site}/sensors/{sensor}/rules", viewer(a, s.sensorRules))
	mux.HandleFunc("GET /api/v1/features", viewer(a, s.features))
	mux.HandleFunc("GET /api/v1/alarm-health", viewer(a, s.alarmHealth))
	mux.HandleFunc("GET /api/v1/shelves", viewer(a, s.listShelves))
	mux.HandleFunc("POST /api/v1/shelves", a.Require(RoleOperator, jsonOnlyP(s.shelve)))
	mux.HandleFunc("DELETE /api/v1/shelves/{id}", a.Require(RoleOperator, s.unshelve))
	mux.HandleFunc("GET /api/v1/stream", viewer(a, s.stream))
	mux.HandleFunc("GET /api/v1/rule-states", viewer(a, s.ruleStates))
	mux.HandleFunc("GET /api/v1/worklist", viewer(a, s.worklist))
	mux.HandleFunc("GET /api/v1/events", viewer(a, s.events))
	mux.HandleFunc("GET /api/v1/deadletter", a.Require(RoleViewer, s.deadLetters))
	mux.HandleFunc("POST /api/v1/admin/reload", a.Require(RoleAdmin, s.reload))
	// The first, unversioned paths: deprecated aliases of their /api/v1
	// routes, same handlers, kept for scripts written against them
	// (riskmon sim score --api reads /api/events).
	mux.HandleFunc("GET /api/alerts", viewer(a, s.ruleStates))
	mux.HandleFunc("GET /api/alerts/open", viewer(a, s.worklist))
	mux.HandleFunc("GET /api/events", viewer(a, s.events))
	mux.HandleFunc("GET /api/alarm-health", viewer(a, s.alarmHealth))
	mux.HandleFunc("POST /api/alerts/{id}/ack", a.Require(RoleOperator, s.ack))
	mux.HandleFunc("GET /api/deadletter", a.Require(RoleViewer, s.deadLetters))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	static := http.FileServerFS(sub)
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// no-cache, not no-store: the browser revalidates, so an upgraded
		// console reaches the control room without a forced reload.
		w.Header().Set("Cache-Control", "no-cache")
		static.ServeHTTP(w, r)
	}))
	return securityHeaders(mux)
}

// securityHeaders keeps the console to its own origin: it loads nothing
// from elsewhere and must not be framed by another page.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// alertPage is the body of GET /api/v1/alerts.
type alertPage struct {
	Total  int     `json:"total"`
	Limit  int     `json:"limit"`
	Offset int     `json:"offset"`
	Alerts []Alert `json:"alerts"`
}

func (s *server) listAlerts(w http.ResponseWriter, r *http.Request) {
	f, limit, offset, err := s.parseAlertQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	alerts, total := s.hub.Alerts(f, limit, offset)
	writeJSON(w, alertPage{Total: total, Limit: limit, Offset: offset, Alerts: alerts})
}

// parseAlertQuery reads the filters and paging of GET /api/v1/alerts and
// names the parameter at fault, so a wrong bookmark is easy to fix.
func (s *server) parseAlertQuery(r *http.Request) (f AlertFilter, limit, offset int, err error) {
	q := r.URL.Query()
	switch st := q.Get("state"); st {
	case "", "all":
	case StateOpen, StateResolved:
		f.State = st
	default:
		return f, 0, 0, fmt.Errorf("state: want open, resolved or all, got %q", st)
	}
	for _, v := range q["level"] {
		lv, err := sensors.ParseLevel(v)
		if err != nil {
			return f, 0, 0, fmt.Errorf("level: %w", err)
		}
		f.Levels = append(f.Levels, lv)
	}
	f.Site, f.Rule = q.Get("site"), q.Get("rule")
	if v := q.Get("sector"); v != "" {
		sec, err := sensors.ParseSector(v)
		if err != nil {
			return f, 0, 0, fmt.Errorf("sector: %w", err)
		}
		f.Sector = sec
	}
	if v := q.Get("acked"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, 0, 0, fmt.Errorf("acked: want true or false, got %q", v)
		}
		f.Acked = &b
	}
	if f.Since, err = parseTime(q.Get("since")); err != nil {
		return f, 0, 0, fmt.Errorf("since: %w", err)
	}
	if f.Until, err = parseTime(q.Get("until")); err != nil {
		return f, 0, 0, fmt.Errorf("until: %w", err)
	}
	if limit, err = parseInt(q.Get("limit"), defaultLimit, 1, s.opts.MaxLimit); err != nil {
		return f, 0, 0, fmt.Errorf("limit: %w", err)
	}
	if offset, err = parseInt(q.Get("offset"), 0, 0, 1<<31-1); err != nil {
		return f, 0, 0, fmt.Errorf("offset: %w", err)
	}
	return f, limit, offset, nil
}

func parseTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("want an RFC 3339 time such as 2026-05-01T08:00:00Z, got %q", v)
	}
	return t, nil
}

func parseInt(v string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("want an integer from %d to %d, got %q", lo, hi, v)
	}
	return n, nil
}

func (s *server) getAlert(w http.ResponseWriter, r *http.Request) {
	a, ok := s.hub.Alert(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "no such alert: "+r.PathValue("id"))
		return
	}
	writeJSON(w, a)
}

// ack acknowledges an alert for the calling operator.
func (s *server) ack(w http.ResponseWriter, r *http.Request, p Principal) {
	if s.opts.Acker == nil {
		writeError(w, http.StatusNotImplemented, "this console cannot acknowledge alerts")
		return
	}
	var body struct {
		Comment string `json:"comment"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, `body: want {"comment": "…"}`)
			return
		}
	}
	id := r.PathValue("id")
	rec, err := s.opts.Acker.Ack(id, p.Name, body.Comment)
	if errors.Is(err, lifecycle.ErrNoAlert) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.log.Info("alert acknowledged", "alert_id", id, "user", p.Name, "via", p.Via)
	s.opts.Auth.opts.Audit(AuditRecord{At: s.opts.Now().UTC(), Action: "ack", User: p.Name, Remote: remoteAddr(r), AlertID: id, Comment: body.Comment})
	writeJSON(w, rec)
}

// viewer guards a read endpoint.
func viewer(a *Auth, next http.HandlerFunc) http.HandlerFunc {
	return a.Require(RoleViewer, func(w http.ResponseWriter, r *http.Request, _ Principal) { next(w, r) })
}

// jsonOnly refuses bodies that are not JSON. A cross-site HTML form can
// only send form encodings, so this keeps other sites from logging a
// browser in under their account (login CSRF).
func jsonOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
		if strings.TrimSpace(ct) != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "want Content-Type: application/json")
			return
		}
		next(w, r)
	}
}

// features tells the page which optional parts this console has, so it
// shows only those and asks no endpoint that would answer 501.
func (s *server) features(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, struct {
		Shelve bool `json:"shelve"`
		Health bool `json:"health"`
		Series bool `json:"series"`
		Ack    bool `json:"ack"`
	}{s.opts.Shelver != nil, s.opts.Health != nil, s.opts.Series != nil, s.opts.Acker != nil})
}

// jsonOnlyP is jsonOnly for a guarded handler.
func jsonOnlyP(next func(http.ResponseWriter, *http.Request, Principal)) func(http.ResponseWriter, *http.Request, Principal) {
	return func(w http.ResponseWriter, r *http.Request, p Principal) {
		jsonOnly(func(w http.ResponseWriter, r *http.Request) { next(w, r, p) })(w, r)
	}
}

func (s *server) listSites(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, struct {
		Sites []SiteSummary `json:"sites"`
	}{s.hub.Sites(s.opts.Now(), s.opts.StaleFactor)})
}

func (s *server) siteSensors(w http.ResponseWriter, r *http.Request) {
	site := r.PathValue("site")
	views, ok := s.hub.SiteSensors(site, s.opts.Now(), s.opts.StaleFactor)
	if !ok {
		writeError(w, http.StatusNotFound, "no such site: "+site)
		return
	}
	writeJSON(w, struct {
		Site    string       `json:"site"`
		Sensors []SensorView `json:"sensors"`
	}{site, views})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	// Encoding our own types cannot fail short of a broken connection,
	// which there is no one left to tell.
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}
