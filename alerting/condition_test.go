package alerting

import (
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

func TestConditions(t *testing.T) {
	var got []Event
	c := NewConditions(SinkFunc(func(ev Event) { got = append(got, ev) }))
	t0 := time.Unix(1764345600, 0)
	steps := []struct {
		name string
		do   func() bool
		emit bool
	}{
		{"raise opens", func() bool {
			return c.Raise(RuleGatewayOffline, "hz-01", "gw1", sensors.LevelYellow, 0, "", "gw1 offline", t0)
		}, true},
		{"same level again is quiet", func() bool {
			return c.Raise(RuleGatewayOffline, "hz-01", "gw1", sensors.LevelYellow, 0, "", "gw1 offline", t0.Add(time.Second))
		}, false},
		{"less severe is quiet", func() bool {
			return c.Raise(RuleGatewayOffline, "hz-01", "gw1", sensors.LevelBlue, 0, "", "x", t0.Add(2*time.Second))
		}, false},
		{"more severe escalates", func() bool {
			return c.Raise(RuleGatewayOffline, "hz-01", "gw1", sensors.LevelOrange, 0, "", "x", t0.Add(3*time.Second))
		}, true},
		{"other subject opens its own", func() bool {
			return c.Raise(RuleGatewayOffline, "hz-01", "gw2", sensors.LevelOrange, 0, "", "gw2 offline", t0.Add(4*time.Second))
		}, true},
		{"clear resolves", func() bool {
			return c.Clear(RuleGatewayOffline, "hz-01", "gw1", "", "gw1 online", t0.Add(5*time.Second))
		}, true},
		{"clear again is quiet", func() bool {
			return c.Clear(RuleGatewayOffline, "hz-01", "gw1", "", "gw1 online", t0.Add(6*time.Second))
		}, false},
		{"data loss opens", func() bool {
			return c.Raise(RuleDataLoss, "hz-01", "gw1", sensors.LevelYellow, 3, "messages", "3 lost", t0.Add(7*time.Second))
		}, true},
		{"expire resolves old data loss only", func() bool {
			return c.Expire(RuleDataLoss, t0.Add(8*time.Second), "no more loss", t0.Add(9*time.Second)) == 1
		}, true},
	}
	for _, s := range steps {
		before := len(got)
		ok := s.do()
		if ok != s.emit || (len(got) > before) != s.emit {
			t.Fatalf("%s: returned %v with %d new events, want emit=%v", s.name, ok, len(got)-before, s.emit)
		}
	}
	want := []struct {
		typ   EventType
		level sensors.Level
		sub   string
	}{
		{EventFired, sensors.LevelYellow, "gw1"},
		{EventEscalated, sensors.LevelOrange, "gw1"},
		{EventFired, sensors.LevelOrange, "gw2"},
		{EventResolved, sensors.LevelNone, "gw1"},
		{EventFired, sensors.LevelYellow, "gw1"},
		{EventResolved, sensors.LevelNone, "gw1"},
	}
	for i, w := range want {
		if got[i].Type != w.typ || got[i].Level != w.level || got[i].Sensor != w.sub {
			t.Errorf("event %d = %s %v %s, want %s %v %s", i, got[i].Type, got[i].Level, got[i].Sensor, w.typ, w.level, w.sub)
		}
	}
	if got[0].AlertID != got[1].AlertID || got[0].AlertID != got[3].AlertID || got[0].AlertID == got[2].AlertID {
		t.Errorf("alert ids: %s %s %s %s", got[0].AlertID, got[1].AlertID, got[2].AlertID, got[3].AlertID)
	}
	if act := c.Active(); len(act) != 1 || act[0].Sensor != "gw2" {
		t.Errorf("active = %+v, want gw2 only", act)
	}
	if !c.IsOpen(RuleGatewayOffline, "hz-01", "gw2") || c.IsOpen(RuleGatewayOffline, "hz-01", "gw1") {
		t.Error("IsOpen disagrees with the events")
	}
}
