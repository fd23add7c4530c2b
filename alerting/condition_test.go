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

func TestConditionsRestore(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	var got []Event
	c := NewConditions(SinkFunc(func(e Event) { got = append(got, e) }))
	n := c.Restore([]Record{
		{ID: "gw", Rule: RuleGatewayOffline, Site: "hz-01", Sensor: "gw-1", Level: sensors.LevelOrange, StartsAt: t0},
		{ID: "cleared", Rule: RuleGatewayOffline, Site: "hz-01", Sensor: "gw-2", Level: sensors.LevelNone, StartsAt: t0},
		{ID: "engine", Rule: "ch4_high", Site: "mine-1", Sensor: "CH4-1", Level: sensors.LevelRed, StartsAt: t0},
	})
	if n != 1 || len(got) != 0 {
		t.Fatalf("restored %d and emitted %d; want 1 and none", n, len(got))
	}
	// The retained offline status arrives again: nothing new.
	if c.Raise(RuleGatewayOffline, "hz-01", "gw-1", sensors.LevelOrange, 0, "", "offline", t0.Add(time.Minute)) {
		t.Fatal("a restored condition was raised a second time")
	}
	// Back online: the restored alert resolves under its own id.
	if !c.Clear(RuleGatewayOffline, "hz-01", "gw-1", "", "online", t0.Add(2*time.Minute)) {
		t.Fatal("restored condition did not clear")
	}
	if len(got) != 1 || got[0].AlertID != "gw" || got[0].Type != EventResolved || !got[0].StartsAt.Equal(t0) {
		t.Fatalf("events %+v, want gw resolved", got)
	}
}

// TestConditionsAndMonitorDropSites: the condition alerts and the silent
// gateways of sites handed to another instance are forgotten without an
// event, so that neither a later clear nor a later tick pages them here,
// and a site taken back is judged afresh; other sites' alerts stay.
func TestConditionsAndMonitorDropSites(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	r := newMonitorRig(t)
	r.quiet = []QuietGateway{{Site: "hz-01", Gateway: "gw1", Sensors: 2, Since: t0.Add(-10 * time.Minute), Limit: time.Minute}}
	r.m.Tick(t0)
	r.c.Raise(RuleGatewayOffline, "sz-03", "gw9", sensors.LevelOrange, 0, "", "offline", t0)
	if !r.c.IsOpen(RuleGatewayOffline, "hz-01", "gw1") || len(r.events) != 2 {
		t.Fatalf("before the hand-over: %d events %+v", len(r.events), r.events)
	}
	r.m.Drop([]string{"hz-01"})
	if n := r.c.Drop([]string{"hz-01"}); n != 1 {
		t.Fatalf("dropped %d condition alerts, want hz-01's one", n)
	}
	// hz-01 is no longer this instance's to judge: it leaves the quiet list.
	r.quiet = nil
	r.m.Tick(t0.Add(time.Second))
	if r.c.Clear(RuleGatewayOffline, "hz-01", "gw1", "", "online", t0.Add(2*time.Second)) {
		t.Error("a dropped condition alert was cleared")
	}
	if len(r.events) != 2 {
		t.Errorf("events after the hand-over: %+v", r.events[2:])
	}
	if !r.c.IsOpen(RuleGatewayOffline, "sz-03", "gw9") {
		t.Error("another site's condition alert was dropped")
	}
	// The site comes back to this instance, its gateway still silent:
	// judged afresh, not taken as already raised.
	r.quiet = []QuietGateway{{Site: "hz-01", Gateway: "gw1", Sensors: 2, Since: t0.Add(-10 * time.Minute), Limit: time.Minute}}
	r.m.Tick(t0.Add(3 * time.Second))
	if !r.c.IsOpen(RuleGatewayOffline, "hz-01", "gw1") {
		t.Error("the silent gateway of a site taken back was not judged again")
	}
}
