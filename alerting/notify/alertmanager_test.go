package notify

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

func decodeAlerts(t *testing.T, body []byte) []postableAlert {
	t.Helper()
	var out []postableAlert
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return out
}

func TestAlertmanagerPayloads(t *testing.T) {
	srv := newFakeServer(t, answer{status: 200})
	am, err := NewAlertmanager(AlertmanagerOptions{URL: srv.URL + "/", ResendInterval: time.Minute, RetryOptions: fastRetry(t)}, testDeps(nil))
	if err != nil {
		t.Fatal(err)
	}
	fired := firedEvent()
	esc := fired
	esc.Type, esc.Level, esc.PrevLevel, esc.At = alerting.EventEscalated, sensors.LevelRed, sensors.LevelOrange, testNow
	resolved := esc
	resolved.Type, resolved.Level, resolved.PrevLevel = alerting.EventResolved, sensors.LevelNone, sensors.LevelRed
	for _, ev := range []alerting.Event{fired, esc, resolved} {
		if err := am.Notify(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	got := srv.got()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	for _, r := range got {
		if r.URL != "/api/v2/alerts" {
			t.Errorf("URL %s", r.URL)
		}
	}
	validUntil := testNow.Add(4 * time.Minute)
	type want struct {
		color  string
		endsAt time.Time
	}
	check := func(i int, wants ...want) {
		t.Helper()
		alerts := decodeAlerts(t, got[i].Body)
		if len(alerts) != len(wants) {
			t.Fatalf("request %d: %d alerts, want %d", i, len(alerts), len(wants))
		}
		for j, w := range wants {
			a := alerts[j]
			if a.Labels["color"] != w.color || !a.EndsAt.Equal(w.endsAt) || !a.StartsAt.Equal(fired.StartsAt) || a.Labels["alertname"] != fired.Rule {
				t.Errorf("request %d alert %d: %+v, want color %s ending %v", i, j, a, w.color, w.endsAt)
			}
		}
	}
	check(0, want{"orange", validUntil})
	// Escalation: the orange alert ends, a red one fires.
	check(1, want{"orange", esc.At}, want{"red", validUntil})
	// A resolve carries the labels of the level it leaves.
	check(2, want{"red", resolved.At})
	if am.Active() != 0 {
		t.Errorf("%d active after resolve", am.Active())
	}
}

func TestAlertmanagerResend(t *testing.T) {
	// The first send fails for good; the alert is dead-lettered but still
	// kept, so the resends bring it to Alertmanager all the same.
	srv := newFakeServer(t, answer{status: 400, body: "nope"}, answer{status: 200})
	reg := prometheus.NewRegistry()
	retry := fastRetry(t)
	am, err := NewAlertmanager(AlertmanagerOptions{URL: srv.URL, ResendInterval: 10 * time.Millisecond, RetryOptions: retry}, testDeps(reg))
	if err != nil {
		t.Fatal(err)
	}
	if err := am.Notify(context.Background(), firedEvent()); err == nil {
		t.Fatal("no error on 400")
	}
	if n := len(readDeadLetters(t, retry.DeadLetter)); n != 1 {
		t.Fatalf("%d dead letters, want 1", n)
	}
	done := make(chan error, 1)
	go func() { done <- am.Run(context.Background()) }()
	waitFor(t, "two resends", func() bool { return len(srv.got()) >= 3 })
	if err := am.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, r := range srv.got()[1:] {
		if alerts := decodeAlerts(t, r.Body); len(alerts) != 1 || alerts[0].Annotations["alert_id"] != firedEvent().AlertID ||
			alerts[0].Annotations["procedure_zh"] == "" || alerts[0].Annotations["procedure_en"] == "" ||
			!strings.Contains(alerts[0].Annotations["summary_zh"], "可燃气体") {
			t.Errorf("resend without its id or the operator's text in both languages: %s", r.Body)
		}
	}
	if v := metricValue(t, reg, "riskmon_notify_attempts_total", map[string]string{"notifier": "alertmanager", "result": resultSuccess}); v < 2 {
		t.Errorf("%v successful resends, want ≥ 2", v)
	}

	// Resolved: nothing left to resend.
	if err := am.Notify(context.Background(), resolvedEvent()); err != nil {
		t.Fatal(err)
	}
	n := len(srv.got())
	am.resend(context.Background())
	if len(srv.got()) != n {
		t.Error("resend with no firing alerts sent a request")
	}
}

func TestAlertmanagerCloseWithoutRun(t *testing.T) {
	am, err := NewAlertmanager(AlertmanagerOptions{URL: "http://127.0.0.1:1"}, testDeps(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := am.Close(); err != nil {
		t.Fatal(err)
	}
	// Run after Close returns at once.
	if err := am.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestValidUntil(t *testing.T) {
	now := testNow
	if got := validUntil(now.Add(-time.Hour), now, time.Minute); !got.Equal(now.Add(4 * time.Minute)) {
		t.Errorf("past start: %v", got)
	}
	// A device clock ahead of ours must not give endsAt before startsAt.
	ahead := now.Add(time.Hour)
	if got := validUntil(ahead, now, time.Minute); !got.Equal(ahead.Add(4 * time.Minute)) {
		t.Errorf("future start: %v", got)
	}
}
