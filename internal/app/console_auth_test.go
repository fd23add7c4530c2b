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

	"golang.org/x/crypto/bcrypt"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/journal"
	"github.com/riskmon/riskmon/sensors"
)

// TestConsoleLoginAck: a configured user logs in to the console, which is
// wired to the service's lifecycle, acknowledges from the board's endpoint
// with the session's CSRF token, and the journal records both.
func TestConsoleLoginAck(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw1"}})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("op-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	f := false
	cfg.Alerting.Notify.MQTT, cfg.Alerting.Notify.Log = &f, &f
	cfg.HTTP.Users = []config.User{{Name: "wang", PasswordHash: string(hash), Role: "operator"}}
	svc, err := New(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	closeSvc := sync.OnceValue(svc.Close)
	defer closeSvc()
	t0 := time.Unix(1764345600, 0)
	svc.Evaluate([]sensors.Reading{{Site: "hz-01", Sensor: "GT-101", Kind: "combustible_gas", Value: 30, Time: t0, Received: t0}})
	h := svc.Handler()

	req := httptest.NewRequest(http.MethodPost, "/api/v1/login", strings.NewReader(`{"user":"wang","password":"op-pass"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	var me struct{ CSRF string }
	_ = json.Unmarshal(rec.Body.Bytes(), &me)
	cookies := rec.Result().Cookies()
	// The operator's worklist, read with the session.
	openList := func() []alerting.Record {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/worklist", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var list []alerting.Record
		if err := json.Unmarshal(rec.Body.Bytes(), &list); rec.Code != http.StatusOK || err != nil || len(list) != 1 {
			t.Fatalf("worklist: %d %v %s", rec.Code, err, rec.Body)
		}
		return list
	}
	id := openList()[0].ID

	ack := func(path, csrf string) int {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"comment":"crew sent"}`))
		for _, c := range cookies {
			req.AddCookie(c)
		}
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	// Both ack endpoints take the session, and both want its CSRF token.
	if code := ack("/api/alerts/"+id+"/ack", ""); code != http.StatusForbidden {
		t.Fatalf("service ack without CSRF: %d", code)
	}
	if code := ack("/api/v1/alerts/"+id+"/ack", ""); code != http.StatusForbidden {
		t.Fatalf("console ack without CSRF: %d", code)
	}
	if code := ack("/api/v1/alerts/"+id+"/ack", me.CSRF); code != http.StatusOK {
		t.Fatalf("console ack: %d", code)
	}
	r := openList()[0]
	if r.ID != id || r.State != alerting.StateActiveAcked || r.AckedBy != "wang" || r.Comment != "crew sent" {
		t.Fatalf("lifecycle after console ack: %+v", r)
	}
	// Reads need the session now that an account exists.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/alerts", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("anonymous console read: %d", rec.Code)
	}

	if err := closeSvc(); err != nil {
		t.Fatal(err)
	}
	dir := cfg.StatePath(cfg.Journal.Dir)
	if _, err := journal.Verify(dir); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	_ = journal.Export(dir, time.Time{}, func(l []byte) error { out.Write(l); return nil })
	for _, want := range []string{`"action":"login","user":"wang"`, `"action":"ack","user":"wang"`, `"type":"acknowledged"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("journal lacks %s:\n%s", want, out.String())
		}
	}
}
