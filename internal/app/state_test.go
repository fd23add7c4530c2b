package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/journal"
	"github.com/riskmon/riskmon/sensors"
)

// stateRig starts and stops services on one state dir, as a restart does,
// with a webhook that records every notification.
type stateRig struct {
	t    *testing.T
	cfg  config.Config
	reg  *sensors.Registry
	hook *webhookSink
	// full saves windows too, as at shutdown; false saves what the
	// periodic save does.
	full bool
	// crash makes the next stop save nothing, as a kill between saves.
	crash bool
}

func newStateRig(t *testing.T, reg *sensors.Registry) *stateRig {
	hook := &webhookSink{}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	f := false
	cfg.Alerting.Notify.MQTT, cfg.Alerting.Notify.Log = &f, &f
	cfg.Alerting.Notify.Webhooks = []config.Webhook{{URL: srv.URL, Timeout: 5 * time.Second, MaxElapsed: 10 * time.Second}}
	cfg.Alerting.For = 10 * time.Minute
	return &stateRig{t: t, cfg: cfg, reg: reg, hook: hook}
}

// start builds a service (restoring the saved state) and runs its
// dispatcher; stop saves the state as Run does at shutdown and closes
// what New opened.
func (r *stateRig) start() (*Service, func()) {
	r.t.Helper()
	svc, err := New(r.cfg, r.reg, slog.New(slog.DiscardHandler))
	if err != nil {
		r.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.dispatcher.Run(context.Background()) }()
	return svc, func() {
		if r.crash {
			r.crash = false // the next stop is orderly again
		} else if err := svc.saveState(r.full); err != nil {
			r.t.Error(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := svc.dispatcher.Close(ctx); err != nil {
			r.t.Error(err)
		}
		<-done
		svc.Close()
	}
}

func gasRegistry(t *testing.T) *sensors.Registry {
	t.Helper()
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw1"}})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

var stateT0 = time.Unix(1764345600, 0).UTC()

// feedGas evaluates v on GT-101 every 30 s of device time in [from, to).
func feedGas(svc *Service, from, to time.Duration, v float64) {
	for d := from; d < to; d += 30 * time.Second {
		at := stateT0.Add(d)
		svc.Evaluate([]sensors.Reading{{Site: "hz-01", Sensor: "GT-101", Kind: "combustible_gas", Value: v, Time: at, Received: at}})
	}
}

// TestServiceRestartKeepsRuleState: killed at minute 7 of a for: 10m
// rule, the service restarted on the same state dir fires at minute 10
// (not 17) with StartsAt at minute 0; restarted again while firing, the
// alert stays firing with the same id and nobody is paged twice.
func TestServiceRestartKeepsRuleState(t *testing.T) {
	for _, full := range []bool{true, false} {
		t.Run(map[bool]string{true: "shutdown save", false: "periodic save"}[full], func(t *testing.T) {
			rig := newStateRig(t, gasRegistry(t))
			rig.full = full
			testRestartKeepsRuleState(t, rig)
		})
	}
}

func testRestartKeepsRuleState(t *testing.T, rig *stateRig) {
	svc, stop := rig.start()
	feedGas(svc, 0, 7*time.Minute, 27)
	pending := svc.RuleStates()
	if len(pending) != 1 || pending[0].State != alerting.StatePending {
		t.Fatalf("active %+v, want one pending alert", pending)
	}
	stop()
	if _, err := os.Stat(filepath.Join(rig.cfg.StateDir, stateFile)); err != nil {
		t.Fatalf("no state file: %v", err)
	}

	svc, stop = rig.start()
	if a := svc.RuleStates(); len(a) != 1 || a[0].State != alerting.StatePending || a[0].ID != pending[0].ID {
		t.Fatalf("after restart: active %+v, want the pending alert %s", a, pending[0].ID)
	}
	feedGas(svc, 7*time.Minute+30*time.Second, 12*time.Minute, 27)
	rig.waitEvents(t, 1)
	fired := rig.hook.got[0]
	if fired.Type != alerting.EventFired || fired.AlertID != pending[0].ID || !fired.StartsAt.Equal(stateT0) || !fired.At.Equal(stateT0.Add(10*time.Minute)) {
		t.Fatalf("notified %+v; want fired at 10m, starting at 0, id %s", fired, pending[0].ID)
	}
	stop()

	svc, stop = rig.start()
	defer stop()
	if a := svc.RuleStates(); len(a) != 1 || a[0].State != alerting.StateFiring || a[0].ID != fired.AlertID {
		t.Fatalf("after second restart: active %+v, want alert %s firing", a, fired.AlertID)
	}
	feedGas(svc, 11*time.Minute, 14*time.Minute, 27) // a redelivered minute, then new readings
	feedGas(svc, 14*time.Minute, 14*time.Minute+time.Second, 5)
	rig.waitEvents(t, 2)
	time.Sleep(100 * time.Millisecond) // room for a wrong extra page to arrive
	if got := rig.hook.types(); len(got) != 2 || got[1] != "resolved" || rig.hook.got[1].AlertID != fired.AlertID {
		t.Fatalf("webhook got %v, want fired then resolved of %s", got, fired.AlertID)
	}
}

func (r *stateRig) waitEvents(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(r.hook.types()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := r.hook.types(); len(got) != n {
		t.Fatalf("webhook got %v, want %d events", got, n)
	}
}

// TestServiceStartsWithUnreadableState: a corrupt state file is logged
// and the service starts cold rather than not at all.
func TestServiceStartsWithUnreadableState(t *testing.T) {
	rig := newStateRig(t, gasRegistry(t))
	if err := os.WriteFile(filepath.Join(rig.cfg.StateDir, stateFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	svc, stop := rig.start()
	defer stop()
	feedGas(svc, 0, time.Minute, 27)
	if a := svc.RuleStates(); len(a) != 1 || a[0].State != alerting.StatePending {
		t.Fatalf("active %+v, want a fresh pending alert", a)
	}
}

// TestReloadAPI: POST /api/v1/admin/reload needs an admin; a valid
// reload keeps an unchanged rule's pending alert, a changed setpoint
// starts afresh, an invalid registry is refused with its error and the
// old rules keep running.
func TestReloadAPI(t *testing.T) {
	dir := t.TempDir()
	regPath := filepath.Join(dir, "fleet.yaml")
	writeFleet := func(setpoints string) {
		t.Helper()
		body := "sites:\n  - id: hz-01\n    sector: hazchem\n    sensors:\n      - id: GT-101\n        kind: combustible_gas\n        gateway: gw1\n" + setpoints
		if err := os.WriteFile(regPath, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFleet("")
	reg, err := sensors.LoadFile(sensors.DefaultCatalog(), regPath)
	if err != nil {
		t.Fatal(err)
	}
	rig := newStateRig(t, reg)
	rig.cfg.HTTP.Tokens = []config.Token{{Name: "zhao.admin", Token: "admin-token", Role: "admin"}, {Name: "wang.operator", Token: "op-token", Role: "operator"}}
	svc, stop := rig.start()
	defer stop()
	h := svc.Handler()
	reload := func(token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/admin/reload", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := reload("admin-token"); rec.Code != http.StatusNotImplemented {
		t.Fatalf("reload without a source: %d, want 501", rec.Code)
	}
	svc.SetReloadSource(func() (config.Config, *sensors.Registry, error) {
		reg, err := sensors.LoadFile(sensors.DefaultCatalog(), regPath)
		return rig.cfg, reg, err
	})
	feedGas(svc, 0, 7*time.Minute, 27)
	if rec := reload("op-token"); rec.Code != http.StatusForbidden {
		t.Fatalf("operator reload: %d, want 403", rec.Code)
	}
	if rec := reload("admin-token"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"kept":`) {
		t.Fatalf("reload: %d %s", rec.Code, rec.Body)
	}
	pendingID := svc.RuleStates()[0].ID

	writeFleet("        setpoints:\n          - {level: 2, direction: above, value: 30}\n          - {level: 2, direction: above, value: 35}\n")
	rec := reload("admin-token")
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "fleet.yaml:10") {
		t.Fatalf("invalid registry: %d %s, want 422 naming the file and line", rec.Code, rec.Body)
	}
	if a := svc.RuleStates(); len(a) != 1 || a[0].ID != pendingID {
		t.Fatalf("after a refused reload: active %+v, want the pending alert %s", a, pendingID)
	}

	writeFleet("        setpoints:\n          - {level: 2, direction: above, value: 26}\n          - {level: 1, direction: above, value: 40}\n")
	if rec := reload("admin-token"); rec.Code != http.StatusOK {
		t.Fatalf("reload: %d %s", rec.Code, rec.Body)
	}
	feedGas(svc, 7*time.Minute, 8*time.Minute, 27)
	if a := svc.RuleStates(); len(a) != 1 || a[0].ID == pendingID || !a[0].Since.Equal(stateT0.Add(7*time.Minute)) {
		t.Fatalf("after a setpoint change: active %+v, want a new pending alert from 7m", a)
	}
	var actions []string
	err = journal.Export(rig.cfg.StatePath(rig.cfg.Journal.Dir), time.Time{}, func(line []byte) error {
		if strings.Contains(string(line), `"zhao.admin"`) {
			for _, a := range []string{`"action":"reload"`, `"action":"reload_failed"`} {
				if strings.Contains(string(line), a) {
					actions = append(actions, a)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(actions) != 3 || actions[1] != `"action":"reload_failed"` {
		t.Errorf("journaled reload actions %v, want reload, reload_failed, reload by zhao.admin", actions)
	}

	// A sensor added by a reload is known to ingest at once.
	if err := os.WriteFile(regPath, []byte("sites:\n  - id: hz-01\n    sector: hazchem\n    sensors:\n      - {id: GT-101, kind: combustible_gas, gateway: gw1}\n      - {id: GT-102, kind: combustible_gas, gateway: gw1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rec := reload("admin-token"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "hz-01/GT-102") {
		t.Fatalf("reload adding GT-102: %d %s", rec.Code, rec.Body)
	}
	if _, ok := svc.pipeline.Collector.Registry().Lookup("hz-01", "GT-102"); !ok {
		t.Fatal("ingest does not know the sensor the reload added")
	}
	var site struct{ Sensors []json.RawMessage }
	getJSON(t, svc, "/api/v1/sites/hz-01/sensors", "op-token", &site)
	if len(site.Sensors) != 2 {
		t.Fatalf("console lists %d sensors of hz-01 after the reload, want 2", len(site.Sensors))
	}
}

// TestServiceCrashBetweenSaves: the periodic save at minute 7 of a for:
// 10m rule is the last before a crash at minute 11, after the alert fired
// at minute 10 and was notified. After the restart the engine takes the
// alert up from the alert store: no second fired notification, and the
// resolve is of the same alert.
func TestServiceCrashBetweenSaves(t *testing.T) {
	rig := newStateRig(t, gasRegistry(t))
	svc, stop := rig.start()
	feedGas(svc, 0, 7*time.Minute, 27)
	if err := svc.saveState(false); err != nil {
		t.Fatal(err)
	}
	feedGas(svc, 7*time.Minute, 11*time.Minute, 27)
	rig.waitEvents(t, 1)
	rig.crash = true
	stop()

	svc, stop = rig.start()
	defer stop()
	feedGas(svc, 11*time.Minute, 13*time.Minute, 27)
	feedGas(svc, 13*time.Minute, 13*time.Minute+time.Second, 5)
	rig.waitEvents(t, 2)
	time.Sleep(100 * time.Millisecond) // room for a wrong extra page to arrive
	got := rig.hook.types()
	if len(got) != 2 || got[0] != "fired" || got[1] != "resolved" || rig.hook.got[0].AlertID != rig.hook.got[1].AlertID {
		t.Fatalf("webhook got %v, want one alert fired then resolved", got)
	}
}
