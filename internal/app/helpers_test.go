package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/internal/config"
)

// quietService builds, without running it, a service for the one gas
// detector of gasRegistry on a temporary state dir, with the log and MQTT
// notifiers off; edit may change the configuration first. It is closed
// when the test ends.
func quietService(t *testing.T, edit func(*config.Config)) *Service {
	t.Helper()
	svc, _ := quietServiceConfig(t, edit)
	return svc
}

// quietServiceConfig is quietService that also returns the configuration
// the service was built from, for tests that look at its files on disk.
func quietServiceConfig(t *testing.T, edit func(*config.Config)) (*Service, config.Config) {
	t.Helper()
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	f := false
	cfg.Alerting.Notify.MQTT, cfg.Alerting.Notify.Log = &f, &f
	if edit != nil {
		edit(&cfg)
	}
	svc, err := New(cfg, gasRegistry(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc, cfg
}

// call sends one request to h, with the bearer token if there is one,
// and returns the answer.
func call(h http.Handler, method, path, token, body string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// getJSON GETs path from the service's HTTP API and decodes the answer
// into v; anything but 200 fails the test.
func getJSON(t *testing.T, svc *Service, path, token string, v any) {
	t.Helper()
	rec := call(svc.Handler(), http.MethodGet, path, token, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, rec.Body)
	}
}

// worklist is the alert lifecycle's open list, GET /api/v1/worklist.
func worklist(t *testing.T, svc *Service, token string) []alerting.Record {
	t.Helper()
	var recs []alerting.Record
	getJSON(t, svc, "/api/v1/worklist", token, &recs)
	return recs
}

// record is one open lifecycle record from the worklist.
func record(t *testing.T, svc *Service, token, id string) (alerting.Record, bool) {
	t.Helper()
	for _, r := range worklist(t, svc, token) {
		if r.ID == id {
			return r, true
		}
	}
	return alerting.Record{}, false
}

// events are the recent alert events, GET /api/v1/events.
func events(t *testing.T, svc *Service, token string) []alerting.Event {
	t.Helper()
	var evs []alerting.Event
	getJSON(t, svc, "/api/v1/events", token, &evs)
	return evs
}

// conditionOpen reports whether the condition alert of (rule, site,
// subject) is among the service's rule states.
func conditionOpen(svc *Service, rule, site, subject string) bool {
	for _, a := range svc.RuleStates() {
		if a.Rule == rule && a.Site == site && a.Sensor == subject {
			return true
		}
	}
	return false
}

// scrape reads the service's /metrics and returns the sum of the samples
// of the metric name, whatever their labels (0 if it has none).
func scrape(t *testing.T, svc *Service, name string) float64 {
	t.Helper()
	rec := call(svc.Handler(), http.MethodGet, "/metrics", "", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	var sum float64
	for line := range strings.Lines(rec.Body.String()) {
		sample, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || strings.HasPrefix(sample, "#") {
			continue
		}
		if n, _, _ := strings.Cut(sample, "{"); n != name {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("/metrics: %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// offline points the service at a broker and an InfluxDB that are not
// there and lets it listen on any free port: Run then runs everything
// but ingest, which keeps trying to connect, and the test drives the
// rules itself through Evaluate, Tick and the HTTP API.
func offline(c *config.Config) {
	c.HTTP.Listen = "127.0.0.1:0"
	c.MQTT.Broker = "tcp://127.0.0.1:1"
	c.InfluxDB.URL = "http://127.0.0.1:1"
}

// runService runs svc in its run group until the returned stop is called;
// stop waits for Run to return, which saves the state and closes the
// service's files as at any shutdown.
func runService(t *testing.T, svc *Service) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	return sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
}
