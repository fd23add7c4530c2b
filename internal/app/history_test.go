package app

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
)

func TestHistoryKeepsNewestAndForwards(t *testing.T) {
	var forwarded int
	h := newHistory(3, alerting.SinkFunc(func(alerting.Event) { forwarded++ }))
	t0 := time.Unix(1764345600, 0).UTC()
	for i := range 5 {
		h.Emit(alerting.Event{AlertID: string(rune('a' + i)), Type: alerting.EventFired, At: t0.Add(time.Duration(i) * time.Second)})
	}
	if forwarded != 5 {
		t.Fatalf("forwarded %d events, want 5", forwarded)
	}
	got := h.events(time.Time{})
	if len(got) != 3 || got[0].AlertID != "c" || got[2].AlertID != "e" {
		t.Fatalf("kept %+v, want c, d, e", got)
	}
	rec := httptest.NewRecorder()
	h.serveEvents(rec, httptest.NewRequest("GET", "/api/events?since="+t0.Add(4*time.Second).Format(time.RFC3339), nil))
	var evs []alerting.Event
	if err := json.Unmarshal(rec.Body.Bytes(), &evs); err != nil || len(evs) != 1 || evs[0].AlertID != "e" {
		t.Fatalf("since filter: %v %+v (%s)", err, evs, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	h.serveEvents(rec, httptest.NewRequest("GET", "/api/events?since=yesterday", nil))
	if rec.Code != 400 {
		t.Fatalf("bad since answered %d", rec.Code)
	}
}
