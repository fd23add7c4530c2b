package alerting

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// sampleEvent is an orange combustible-gas alert fired at t0+30s.
func sampleEvent() Event {
	return Event{
		AlertID: "0123456789abcdef", Rule: "combustible_gas_high", Site: "hz-01", Sensor: "GT-101",
		Kind: "combustible_gas", Unit: "%LEL", Type: EventFired, Level: sensors.LevelOrange,
		Value: 27.3, Setpoint: 25, At: t0.Add(30 * time.Second), StartsAt: t0,
		Message: "combustible_gas GT-101 at hz-01: 27.3 %LEL >= 25 (level 2 orange)",
	}
}

func TestEventJSONRoundTrip(t *testing.T) {
	in := sampleEvent()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Event
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("round trip\n got %+v\nwant %+v", out, in)
	}
}

func TestLevelSetJSON(t *testing.T) {
	s := LevelSet(0).With(sensors.LevelBlue).With(sensors.LevelRed).With(sensors.LevelNone)
	b, err := json.Marshal(s)
	if err != nil || string(b) != "[1,4]" {
		t.Fatalf("marshal = %s %v, want [1,4]", b, err)
	}
	var back LevelSet
	if err := json.Unmarshal([]byte("[4,1,9,0]"), &back); err != nil || back != s {
		t.Fatalf("unmarshal = %v %v, want %v", back, err, s)
	}
}
