package app

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/console"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
)

// webhookSink counts the events a webhook receives, by alert and type.
type webhookSink struct {
	mu  sync.Mutex
	got []alerting.Event
}

func (w *webhookSink) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var ev alerting.Event
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	w.got = append(w.got, ev)
	w.mu.Unlock()
}

func (w *webhookSink) types() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, ev := range w.got {
		out = append(out, ev.Type.String())
	}
	return out
}

// TestRestartKeepsAlertsAndPagesOnce: an acknowledged alert survives a
// restart with its acknowledgement; the reading that raised it, seen again
// after the restart (as the broker redelivers what was not acknowledged),
// pages nobody a second time, and its resolution is notified exactly once.
func TestRestartKeepsAlertsAndPagesOnce(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw1"}})
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
	cfg.HTTP.Tokens = []config.Token{{Name: "wang", Token: "op-token", Role: "operator"}}
	// Readings of now: the running service's 1 s checks see nothing stale.
	t0 := time.Now().Truncate(time.Second)
	high := sensors.Reading{Site: "hz-01", Sensor: "GT-101", Kind: "combustible_gas", Value: 30, Time: t0, Received: t0}

	offline(&cfg)
	// start builds a service on the state dir and runs it; stop ends the
	// run, as a restart does.
	start := func() (*Service, func()) {
		t.Helper()
		svc, err := New(cfg, reg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return svc, runService(t, svc)
	}
	waitFor := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(hook.types()) < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := hook.types(); len(got) != n {
			t.Fatalf("webhook got %v, want %d events", got, n)
		}
	}

	svc, stop := start()
	svc.Evaluate([]sensors.Reading{high})
	waitFor(1)
	open := worklist(t, svc, "op-token")
	if len(open) != 1 {
		t.Fatalf("%d open alerts, want 1", len(open))
	}
	id := open[0].ID
	if rec := call(svc.Handler(), http.MethodPost, "/api/v1/alerts/"+id+"/ack", "op-token", `{"comment":"valve closed"}`); rec.Code != http.StatusOK {
		t.Fatalf("ack: %d %s", rec.Code, rec.Body)
	}
	waitFor(2) // the acknowledgement is notified too
	stop()

	svc, stop = start()
	defer stop()
	rec, ok := record(t, svc, "op-token", id)
	if !ok || rec.State != alerting.StateActiveAcked || rec.AckedBy != "wang" || rec.Comment != "valve closed" {
		t.Fatalf("after restart: %+v (found %v), want it acknowledged by wang", rec, ok)
	}
	var a console.Alert
	if resp := call(svc.Handler(), http.MethodGet, "/api/v1/alerts/"+id, "op-token", ""); resp.Code != http.StatusOK ||
		json.Unmarshal(resp.Body.Bytes(), &a) != nil || a.State != "open" {
		t.Fatalf("console board after restart: %d %s, want the open alert", resp.Code, resp.Body)
	}
	svc.Evaluate([]sensors.Reading{high}) // redelivered after the restart
	svc.Evaluate([]sensors.Reading{{Site: "hz-01", Sensor: "GT-101", Kind: "combustible_gas", Value: 1, Time: t0.Add(time.Minute), Received: t0.Add(time.Minute)}})
	waitFor(3)
	time.Sleep(100 * time.Millisecond) // room for a wrong extra page to arrive
	if got, want := hook.types(), []string{"fired", "acknowledged", "resolved"}; len(got) != len(want) || got[2] != "resolved" {
		t.Fatalf("webhook got %v, want %v", got, want)
	}
	if _, ok := record(t, svc, "op-token", id); ok {
		t.Fatal("an acknowledged alert that resolved is still open")
	}
}
