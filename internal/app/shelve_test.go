package app

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
)

// TestShelvedAlertThroughTheService: through the service's own chain, an
// alert raised under a shelf is recorded (marked) but pages nobody; when
// the shelf is ended it is announced once, as a reminder.
func TestShelvedAlertThroughTheService(t *testing.T) {
	hook := &webhookSink{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	svc := quietService(t, func(c *config.Config) {
		c.Alerting.Notify.Webhooks = []config.Webhook{{URL: srv.URL, Timeout: 5 * time.Second, MaxElapsed: 10 * time.Second}}
	})
	done := make(chan error, 1)
	go func() { done <- svc.dispatcher.Run(context.Background()) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = svc.dispatcher.Close(ctx)
		<-done
	}()

	sh, err := svc.shelves.Shelve(lifecycle.ShelfRequest{Mode: lifecycle.ModeShelved, Match: lifecycle.Matcher{Site: "hz-01", Sensor: "GT-101"},
		Reason: "detector being cleaned", By: "wang", Duration: time.Hour, Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1764345600, 0)
	svc.Evaluate([]sensors.Reading{{Site: "hz-01", Sensor: "GT-101", Kind: "combustible_gas", Value: 30, Time: t0, Received: t0}})
	open := svc.lifecycle.Open()
	if len(open) != 1 || open[0].Shelved != sh.ID {
		t.Fatalf("open alerts %+v, want one marked with shelf %s", open, sh.ID)
	}
	time.Sleep(200 * time.Millisecond) // room for a wrong page to arrive
	if got := hook.types(); len(got) != 0 {
		t.Fatalf("a shelved alert paged: %v", got)
	}
	if _, err := svc.shelves.Unshelve(sh.ID, "wang"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(hook.types()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := hook.types(); len(got) != 1 || got[0] != "reminder" {
		t.Fatalf("after the shelf ended the webhook got %v, want one reminder", got)
	}
	if rec, _ := svc.lifecycle.Get(open[0].ID); rec.Shelved != "" {
		t.Fatalf("record still marked shelved: %+v", rec)
	}
}
