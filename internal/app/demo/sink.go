package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// page is one alert event as a webhook received it.
type page struct {
	Key     string        `json:"idempotency_key"`
	AlertID string        `json:"alert_id"`
	Rule    string        `json:"rule"`
	Site    string        `json:"site"`
	Sensor  string        `json:"sensor"`
	Type    string        `json:"type"`
	Level   sensors.Level `json:"level"`
	At      time.Time     `json:"at"`
}

// pageSink is the cluster demo's webhook receiver: every riskmon
// instance posts its alert events to it, and it keeps them all to count
// the pages a person would have got.
type pageSink struct {
	srv *http.Server
	url string

	mu    sync.Mutex
	pages []page
}

// startSink listens on a free loopback port.
func startSink() (*pageSink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webhook sink: %w", err)
	}
	s := &pageSink{url: "http://" + l.Addr().String() + "/page"}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.receive), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *pageSink) receive(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var p page
	if err := json.Unmarshal(b, &p); err != nil {
		// A 4xx ends the sender's retries: the body itself is wrong.
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.pages = append(s.pages, p)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// received is a copy of the pages so far, in arrival order.
func (s *pageSink) received() []page {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]page(nil), s.pages...)
}

func (s *pageSink) close() { _ = s.srv.Close() }

// pageTally is what the pages of a run add up to.
type pageTally struct {
	Pages int // distinct events received (by idempotency key)
	// Resent are copies of an event already received, with its key: the
	// at-least-once delivery's retries, which a receiver drops.
	Resent int
	Raised int // alarms fired
	// Duplicates are pages a person would have got twice: a transition
	// of an alarm paged again, or a second alarm fired for a condition
	// whose first is still open. Why is in Why, one line each.
	Duplicates int
	Why        []string
}

// alarm is one (rule, site, subject): the condition an alert is about.
type alarm struct{ rule, site, sensor string }

// episode is what was paged of one alarm since it last fired from clear.
type episode struct {
	id   string          // the open alert's id; "" once resolved
	seen map[string]page // type/level transitions paged in this episode, with their first page
}

// tally counts pages. A transition (type and level) paged twice in one
// episode of an alarm is a duplicate, whatever the alert ids; so is a
// "fired" while the alarm is open under another id (two instances each
// raising their own alarm for one leak). Acknowledgements, reminders and
// updates are not transitions and are not judged.
func tally(pages []page) pageTally {
	var t pageTally
	keys := map[string]bool{}
	eps := map[alarm]*episode{}
	for _, p := range pages {
		if p.Key != "" && keys[p.Key] {
			t.Resent++
			continue
		}
		keys[p.Key] = true
		t.Pages++
		switch p.Type {
		case "fired", "escalated", "deescalated", "resolved":
		default:
			continue
		}
		a := alarm{p.Rule, p.Site, p.Sensor}
		ep := eps[a]
		if p.Type == "fired" {
			t.Raised++
			if ep == nil || ep.id == "" {
				eps[a] = &episode{id: p.AlertID, seen: map[string]page{"fired/" + p.Level.String(): p}}
				continue
			}
			if ep.id != p.AlertID {
				t.dup(p, fmt.Sprintf("fired again as %s while %s is still open", p.AlertID, ep.id))
				ep.id = p.AlertID
				continue
			}
		}
		if ep == nil {
			// A transition of an alarm fired before the run's first page.
			ep = &episode{id: p.AlertID, seen: map[string]page{}}
			eps[a] = ep
		}
		tr := p.Type + "/" + p.Level.String()
		if first, ok := ep.seen[tr]; ok {
			// Both pages' keys and times tell a reader which changes
			// they were: one change sent twice, or two changes alike.
			t.dup(p, fmt.Sprintf("paged twice in one episode (%s key %s at %s, then %s key %s at %s)",
				first.AlertID, first.Key, first.At.Format("15:04:05.000"), p.AlertID, p.Key, p.At.Format("15:04:05.000")))
		} else {
			ep.seen[tr] = p
		}
		if p.Type == "resolved" {
			ep.id = ""
		}
	}
	return t
}

func (t *pageTally) dup(p page, why string) {
	t.Duplicates++
	t.Why = append(t.Why, fmt.Sprintf("%s %s/%s %s at %s: %s", p.Rule, p.Site, p.Sensor, p.Type, p.Level, why))
}
