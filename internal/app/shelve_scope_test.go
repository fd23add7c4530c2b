package app

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
)

// TestShelveScopeThroughTheAPI: an operator taking every combustible-gas
// detector of the fleet out of service for 7 days through the API is
// refused (it was accepted, and a red escalation at another site was then
// not notified), so is a scope of "*" or of an unknown site; a red
// escalation at another site is notified. An admin may set the wide shelf.
func TestShelveScopeThroughTheAPI(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(),
		[]sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}, {ID: "hz-02", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw1"},
			{ID: "GT-201", Site: "hz-02", Kind: "combustible_gas", Gateway: "gw2"}})
	if err != nil {
		t.Fatal(err)
	}
	hook := &webhookSink{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	f := false
	cfg.Alerting.Notify.MQTT, cfg.Alerting.Notify.Log = &f, &f
	cfg.Alerting.Notify.Webhooks = []config.Webhook{{URL: srv.URL, Timeout: 5 * time.Second, MaxElapsed: 10 * time.Second}}
	cfg.HTTP.Tokens = []config.Token{{Name: "wang", Token: "operator-token", Role: "operator"}, {Name: "zhao", Token: "admin-token", Role: "admin"}}
	offline(&cfg)
	svc, err := New(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	defer runService(t, svc)()
	h := svc.Handler()
	post := func(token, body string) int {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/shelves", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"every gas detector out of service for 7 days", `{"mode":"out_of_service","match":{"kind":"combustible_gas"},"reason":"calibration","duration":"168h"}`, http.StatusForbidden},
		{"a whole site shelved", `{"mode":"shelved","match":{"site":"hz-01"},"reason":"noisy","duration":"8h"}`, http.StatusForbidden},
		{"star", `{"mode":"shelved","match":{"site":"*"},"reason":"noisy","duration":"1h"}`, http.StatusBadRequest},
		{"unknown site", `{"mode":"shelved","match":{"site":"hz-99","sensor":"GT-101","rule":"x"},"reason":"noisy","duration":"1h"}`, http.StatusBadRequest},
		{"unknown kind", `{"mode":"shelved","match":{"kind":"unobtainium"},"reason":"noisy","duration":"1h"}`, http.StatusBadRequest},
	} {
		if got := post("operator-token", tc.body); got != tc.want {
			t.Errorf("operator: %s: %d, want %d", tc.name, got, tc.want)
		}
	}
	var shelves struct{ Shelves []json.RawMessage }
	getJSON(t, svc, "/api/v1/shelves", "operator-token", &shelves)
	if n := len(shelves.Shelves); n != 0 {
		t.Fatalf("%d shelves active after refusals", n)
	}

	// A red alarm at another site is notified.
	t0 := time.Now().Truncate(time.Second)
	svc.Evaluate([]sensors.Reading{{Site: "hz-02", Sensor: "GT-201", Kind: "combustible_gas", Value: 60, Time: t0, Received: t0}})
	deadline := time.Now().Add(10 * time.Second)
	for len(hook.types()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	hook.mu.Lock()
	got := append([]alerting.Event(nil), hook.got...)
	hook.mu.Unlock()
	if len(got) != 1 || got[0].Site != "hz-02" || got[0].Level != sensors.LevelRed || got[0].Planned {
		t.Fatalf("webhook got %+v, want the red alarm at hz-02", got)
	}

	// An admin may take the kind out of service.
	if code := post("admin-token", `{"mode":"out_of_service","match":{"kind":"combustible_gas"},"reason":"calibration campaign","duration":"168h"}`); code != http.StatusCreated {
		t.Fatalf("admin: %d", code)
	}
}
