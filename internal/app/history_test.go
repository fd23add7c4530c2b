package app

import (
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
	got := h.Events(time.Time{})
	if len(got) != 3 || got[0].AlertID != "c" || got[2].AlertID != "e" {
		t.Fatalf("kept %+v, want c, d, e", got)
	}
	// The since filter is on the events' device time.
	if evs := h.Events(t0.Add(4 * time.Second)); len(evs) != 1 || evs[0].AlertID != "e" {
		t.Fatalf("since filter: %+v", evs)
	}
}
