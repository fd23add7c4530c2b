package console

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting/lifecycle"
)

type fakeHealth struct{ snap lifecycle.HealthSnapshot }

func (f fakeHealth) Snapshot() lifecycle.HealthSnapshot { return f.snap }

func TestAlarmHealthEndpoint(t *testing.T) {
	snap := lifecycle.HealthSnapshot{Last10Min: 12, Flood: true, Standing: []lifecycle.StandingAlarm{{ID: "s", Rule: "r"}},
		Rate10Min:  []lifecycle.RateBucket{{Start: t0, Count: 3}, {Start: t0.Add(10 * time.Minute), Count: 12}},
		Chattering: []lifecycle.BadActor{}, TopRules: []lifecycle.BadActor{{Rule: "combustible_gas_high", Count: 40}}, TopSensors: []lifecycle.BadActor{}}
	h := Handler(NewHub(testRegistry(t), HubOptions{}), Options{Health: fakeHealth{snap}})
	rec := get(t, h, "/api/v1/alarm-health")
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var body struct {
		Last10Min int                    `json:"last_10min"`
		Flood     bool                   `json:"flood"`
		FloodLine int                    `json:"flood_line"`
		Rate      []lifecycle.RateBucket `json:"rate_10min"`
		TopRules  []lifecycle.BadActor   `json:"top_rules"`
		Standing  []lifecycle.StandingAlarm
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Last10Min != 12 || !body.Flood || body.FloodLine != 10 || len(body.TopRules) != 1 || len(body.Standing) != 1 {
		t.Errorf("body %s", rec.Body)
	}
	if len(body.Rate) != 2 || body.Rate[1].Count != 12 {
		t.Errorf("rate buckets %+v, want the health's two", body.Rate)
	}
	off := Handler(NewHub(testRegistry(t), HubOptions{}), Options{})
	if rec := get(t, off, "/api/v1/alarm-health"); rec.Code != http.StatusNotImplemented {
		t.Errorf("without health: %d, want 501", rec.Code)
	}
}
