package app

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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
		c.HTTP.Tokens = []config.Token{{Name: "wang", Token: "admin-token", Role: "admin"}}
		offline(c)
	})
	defer runService(t, svc)()
	h := svc.Handler()

	resp := call(h, http.MethodPost, "/api/v1/shelves", "admin-token",
		`{"mode":"shelved","match":{"site":"hz-01","sensor":"GT-101"},"reason":"detector being cleaned","duration":"1h"}`)
	var sh struct{ ID string }
	if err := json.Unmarshal(resp.Body.Bytes(), &sh); resp.Code != http.StatusCreated || err != nil {
		t.Fatalf("shelve: %d %s", resp.Code, resp.Body)
	}
	t0 := time.Now().Truncate(time.Second)
	svc.Evaluate([]sensors.Reading{{Site: "hz-01", Sensor: "GT-101", Kind: "combustible_gas", Value: 30, Time: t0, Received: t0}})
	open := worklist(t, svc, "admin-token")
	if len(open) != 1 || open[0].Shelved != sh.ID {
		t.Fatalf("open alerts %+v, want one marked with shelf %s", open, sh.ID)
	}
	time.Sleep(200 * time.Millisecond) // room for a wrong page to arrive
	if got := hook.types(); len(got) != 0 {
		t.Fatalf("a shelved alert paged: %v", got)
	}
	if resp := call(h, http.MethodDelete, "/api/v1/shelves/"+sh.ID, "admin-token", ""); resp.Code != http.StatusOK {
		t.Fatalf("unshelve: %d %s", resp.Code, resp.Body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(hook.types()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := hook.types(); len(got) != 1 || got[0] != "reminder" {
		t.Fatalf("after the shelf ended the webhook got %v, want one reminder", got)
	}
	if rec, ok := record(t, svc, "admin-token", open[0].ID); !ok || rec.Shelved != "" {
		t.Fatalf("record still marked shelved: %+v", rec)
	}
}
