package console

import (
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// The stream's ring is also the recent-event history GET /api/v1/events
// lists: the newest Ring events, oldest first, filtered on device time.
func TestHubEventsKeepsNewest(t *testing.T) {
	h := NewHub(testRegistry(t), HubOptions{Ring: 3})
	if got := h.Events(time.Time{}); len(got) != 0 {
		t.Fatalf("empty hub lists %+v", got)
	}
	var at []time.Time
	for i := range 5 {
		e := ev(string(rune('a'+i)), alerting.EventFired, sensors.LevelYellow, "plant-a", "gas-1", i)
		at = append(at, e.At)
		h.Event(e)
	}
	ids := func(evs []alerting.Event) string {
		var b strings.Builder
		for _, e := range evs {
			b.WriteString(e.AlertID)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name  string
		since time.Time
		want  string
	}{
		{"all kept", time.Time{}, "cde"},
		{"since the newest", at[4], "e"},
		{"since one that fell out", at[0], "cde"},
		{"after the newest", at[4].Add(time.Second), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(h.Events(tc.since)); got != tc.want {
				t.Fatalf("Events(%v) = %q, want %q", tc.since, got, tc.want)
			}
		})
	}
}
