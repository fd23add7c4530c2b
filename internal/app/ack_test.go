package app

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/journal"
	"github.com/riskmon/riskmon/sensors"
)

// TestAckAPI: only an operator or admin token may acknowledge; the
// acknowledgement records the token's name and moves the alert along its
// lifecycle.
func TestAckAPI(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw1"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	f := false
	cfg.Alerting.Notify.MQTT, cfg.Alerting.Notify.Log = &f, &f
	cfg.HTTP.Tokens = []config.Token{{Name: "wang.operator", Token: "op-token", Role: "operator"}, {Name: "li.viewer", Token: "view-token", Role: "viewer"}}
	svc, err := New(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	closeSvc := sync.OnceValue(svc.Close)
	defer closeSvc()
	t0 := time.Unix(1764345600, 0)
	svc.Evaluate([]sensors.Reading{{Site: "hz-01", Sensor: "GT-101", Kind: "combustible_gas", Value: 30, Time: t0, Received: t0}})
	open := worklist(t, svc, "view-token")
	if len(open) != 1 {
		t.Fatalf("%d open alerts, want 1", len(open))
	}
	id := open[0].ID
	h := svc.Handler()
	ack := func(id, token, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/alerts/"+id+"/ack", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	tests := []struct {
		name, id, token, body string
		code                  int
	}{
		{"anonymous", id, "", "", http.StatusUnauthorized},
		{"wrong token", id, "guess", "", http.StatusUnauthorized},
		{"viewer", id, "view-token", "", http.StatusForbidden},
		{"bad body", id, "op-token", "{", http.StatusBadRequest},
		{"unknown alert", "nope", "op-token", "", http.StatusNotFound},
		{"operator", id, "op-token", `{"comment":"valve closed"}`, http.StatusOK},
	}
	for _, tt := range tests {
		if rec := ack(tt.id, tt.token, tt.body); rec.Code != tt.code {
			t.Errorf("%s: status %d (%s), want %d", tt.name, rec.Code, rec.Body.String(), tt.code)
		}
	}
	var rec alerting.Record
	// Reads need a viewer once tokens are configured.
	resp := httptest.NewRecorder()
	h.ServeHTTP(resp, httptest.NewRequest(http.MethodGet, "/api/v1/worklist", nil))
	if resp.Code != http.StatusUnauthorized {
		t.Fatalf("anonymous read: status %d, want 401", resp.Code)
	}
	resp = httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/api/v1/worklist", nil)
	req.Header.Set("Authorization", "Bearer view-token")
	h.ServeHTTP(resp, req)
	var list []alerting.Record
	if err := json.Unmarshal(resp.Body.Bytes(), &list); err != nil || len(list) != 1 {
		t.Fatalf("open list: %v %s", err, resp.Body.String())
	}
	rec = list[0]
	if rec.State != alerting.StateActiveAcked || rec.AckedBy != "wang.operator" || rec.Comment != "valve closed" {
		t.Fatalf("record after ack: %+v", rec)
	}
	// The journal holds the alarm, the acknowledgement event and the
	// operator's action, and verifies.
	if err := closeSvc(); err != nil {
		t.Fatal(err)
	}
	dir := cfg.StatePath(cfg.Journal.Dir)
	sum, err := journal.Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	_ = journal.Export(dir, time.Time{}, func(l []byte) error { out.Write(l); return nil })
	for _, want := range []string{`"kind":"alarm"`, `"type":"acknowledged"`, `"action":"ack","user":"wang.operator"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("journal (%d records) lacks %s:\n%s", sum.Records, want, out.String())
		}
	}
}
