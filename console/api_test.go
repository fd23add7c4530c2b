package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/ingest"
)

type fakeRuleStates []alerting.Alert

func (f fakeRuleStates) Active() []alerting.Alert { return f }

type fakeWorklist []alerting.Record

func (f fakeWorklist) Open() []alerting.Record { return f }

type fakeEvents []alerting.Event

func (f fakeEvents) Events(since time.Time) []alerting.Event {
	var out []alerting.Event
	for _, e := range f {
		if since.IsZero() || !e.At.Before(since) {
			out = append(out, e)
		}
	}
	return out
}

type fakeDeadLetters []ingest.DeadLetterEntry

func (f fakeDeadLetters) Recent() []ingest.DeadLetterEntry { return f }
func (f fakeDeadLetters) Total() int64                     { return int64(len(f)) }
func (f fakeDeadLetters) Dropped() int64                   { return 0 }
func (f fakeDeadLetters) Capped() map[string]int64         { return map[string]int64{} }

type fakeReloader struct{ err error }

func (f fakeReloader) Reload(context.Context, string, string) (ReloadResult, error) {
	return ReloadResult{Sensors: 3}, f.err
}

func serviceViews() Options {
	return Options{
		RuleStates:     fakeRuleStates{{ID: "r1", Rule: "combustible_gas_high", State: alerting.StateFiring}},
		Worklist:       fakeWorklist{{ID: "w1"}},
		Events:         fakeEvents{{AlertID: "e1", Type: alerting.EventFired, At: t0}, {AlertID: "e2", Type: alerting.EventResolved, At: t0.Add(time.Minute)}},
		DeadLetters:    fakeDeadLetters{{Topic: "riskmon/v1/hz-01/gw1/readings", Gateway: "hz-01/gw1", Reason: "bad_json", Payload: "{"}},
		DeadLetterFile: "deadletter.jsonl",
	}
}

// TestServiceViews: the service's views answer JSON under /api/v1, and
// their unversioned paths answer the same.
func TestServiceViews(t *testing.T) {
	srv := Handler(NewHub(testRegistry(t), HubOptions{}), serviceViews())
	for _, tc := range []struct {
		v1, alias string
		want      string
	}{
		{"/api/v1/rule-states", "/api/alerts", `"id":"r1"`},
		{"/api/v1/worklist", "/api/alerts/open", `"id":"w1"`},
		{"/api/v1/events?since=" + t0.Add(time.Minute).Format(time.RFC3339), "/api/events?since=" + t0.Add(time.Minute).Format(time.RFC3339), `"alert_id":"e2"`},
		{"/api/v1/deadletter", "/api/deadletter", `"payload_withheld":true`},
	} {
		t.Run(tc.v1, func(t *testing.T) {
			rec := get(t, srv, tc.v1)
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), tc.want) {
				t.Fatalf("%d %s, want 200 with %s", rec.Code, rec.Body, tc.want)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if alias := get(t, srv, tc.alias); alias.Code != rec.Code || alias.Body.String() != rec.Body.String() {
				t.Errorf("%s answered %d %s, unlike %s", tc.alias, alias.Code, alias.Body, tc.v1)
			}
		})
	}
	if rec := get(t, srv, "/api/v1/events"); !strings.Contains(rec.Body.String(), `"alert_id":"e1"`) {
		t.Errorf("events without since: %s", rec.Body)
	}
}

// TestServiceViewErrors: refusals and missing parts answer JSON errors.
func TestServiceViewErrors(t *testing.T) {
	full := Handler(NewHub(testRegistry(t), HubOptions{}), serviceViews())
	bare := Handler(NewHub(testRegistry(t), HubOptions{}), Options{})
	for _, tc := range []struct {
		name string
		srv  http.Handler
		url  string
		code int
	}{
		{"bad since", full, "/api/v1/events?since=yesterday", http.StatusBadRequest},
		{"bad since, alias", full, "/api/events?since=yesterday", http.StatusBadRequest},
		{"no rule states", bare, "/api/v1/rule-states", http.StatusNotImplemented},
		{"no worklist", bare, "/api/v1/worklist", http.StatusNotImplemented},
		{"no events", bare, "/api/v1/events", http.StatusNotImplemented},
		{"no dead letters", bare, "/api/v1/deadletter", http.StatusNotImplemented},
		{"unknown unversioned path", full, "/api/nothing", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(t, tc.srv, tc.url)
			var body struct{ Error string }
			if rec.Code != tc.code || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error == "" {
				t.Fatalf("%d %s, want %d with a JSON error", rec.Code, rec.Body, tc.code)
			}
		})
	}
}

// TestReloadEndpoint: only an admin reloads; a refused reload and a
// service with nothing to reload from answer JSON errors.
func TestReloadEndpoint(t *testing.T) {
	auth, err := NewAuth(AuthOptions{Tokens: []Token{{Name: "zhao", Token: "admin-token", Role: RoleAdmin}, {Name: "wang", Token: "op-token", Role: RoleOperator}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		reloader Reloader
		token    string
		code     int
		want     string
	}{
		{"operator", fakeReloader{}, "op-token", http.StatusForbidden, ""},
		{"admin", fakeReloader{}, "admin-token", http.StatusOK, `"sensors":3`},
		{"invalid file", fakeReloader{errors.New("reload: fleet.yaml:10: duplicate setpoint")}, "admin-token", http.StatusUnprocessableEntity, `"error":"fleet.yaml:10: duplicate setpoint"`},
		{"no source", fakeReloader{fmt.Errorf("x: %w", ErrNoReloadSource)}, "admin-token", http.StatusNotImplemented, `"error":`},
		{"no reloader", nil, "admin-token", http.StatusNotImplemented, `"error":`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := Handler(NewHub(testRegistry(t), HubOptions{}), Options{Auth: auth, Reloader: tc.reloader})
			req := httptest.NewRequest(http.MethodPost, "/api/v1/admin/reload", nil)
			req.Header.Set("Authorization", "Bearer "+tc.token)
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
				t.Fatalf("%d %s, want %d with %s", rec.Code, rec.Body, tc.code, tc.want)
			}
		})
	}
}
