package console

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

type fakeHealth struct{ snap alerting.HealthSnapshot }

func (f fakeHealth) Snapshot() alerting.HealthSnapshot { return f.snap }

// TestAlarmRate: fired alarms are counted per 10 minutes of arrival;
// other events are not alarms, and buckets older than a day fall off.
func TestAlarmRate(t *testing.T) {
	now := t0
	h := NewHub(testRegistry(t), HubOptions{Now: func() time.Time { return now }})
	fire := func(n int) {
		for i := range n {
			e := ev("x", alerting.EventFired, sensors.LevelOrange, "plant-a", "gas-1", 0)
			e.AlertID = e.AlertID + string(rune('a'+i%26)) + now.Format("1504")
			h.Event(e)
			h.Event(ev(e.AlertID, alerting.EventResolved, sensors.LevelOrange, "plant-a", "gas-1", 1))
		}
	}
	fire(3)
	now = now.Add(10 * time.Minute)
	fire(12) // a flood
	now = now.Add(20 * time.Minute)
	fire(1)
	rate := h.AlarmRate()
	if len(rate) != rateBuckets {
		t.Fatalf("%d buckets, want %d", len(rate), rateBuckets)
	}
	got := []int{rate[len(rate)-4].Count, rate[len(rate)-3].Count, rate[len(rate)-2].Count, rate[len(rate)-1].Count}
	if want := []int{3, 12, 0, 1}; !slices.Equal(got, want) {
		t.Fatalf("last four buckets %v, want %v", got, want)
	}
	if !rate[len(rate)-1].Start.Equal(t0.Add(30 * time.Minute).Truncate(rateBucket)) {
		t.Errorf("newest bucket starts %s", rate[len(rate)-1].Start)
	}
	now = now.Add(24 * time.Hour)
	for _, b := range h.AlarmRate() {
		if b.Count != 0 {
			t.Fatalf("a day later bucket %s still counts %d", b.Start, b.Count)
		}
	}
}

func TestAlarmHealthEndpoint(t *testing.T) {
	snap := alerting.HealthSnapshot{Last10Min: 12, Flood: true, Standing: []alerting.StandingAlarm{{ID: "s", Rule: "r"}},
		Chattering: []alerting.BadActor{}, TopRules: []alerting.BadActor{{Rule: "combustible_gas_high", Count: 40}}, TopSensors: []alerting.BadActor{}}
	h := Handler(NewHub(testRegistry(t), HubOptions{}), Options{Health: fakeHealth{snap}})
	rec := get(t, h, "/api/v1/alarm-health")
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var body struct {
		Last10Min int                 `json:"last_10min"`
		Flood     bool                `json:"flood"`
		FloodLine int                 `json:"flood_line"`
		Rate      []RateBucket        `json:"rate_10min"`
		TopRules  []alerting.BadActor `json:"top_rules"`
		Standing  []alerting.StandingAlarm
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Last10Min != 12 || !body.Flood || body.FloodLine != 10 || len(body.TopRules) != 1 || len(body.Standing) != 1 {
		t.Errorf("body %s", rec.Body)
	}
	if len(body.Rate) != rateBuckets {
		t.Errorf("%d rate buckets, want a day of %d", len(body.Rate), rateBuckets)
	}
	off := Handler(NewHub(testRegistry(t), HubOptions{}), Options{})
	if rec := get(t, off, "/api/v1/alarm-health"); rec.Code != http.StatusNotImplemented {
		t.Errorf("without health: %d, want 501", rec.Code)
	}
}
