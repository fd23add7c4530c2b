package alerting

import (
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// TestForget: the state of the sites forgotten goes without an event,
// that of the others stays, and a forgotten site starts afresh: the
// same condition raises a new alert, and an adopted one continues.
func TestForget(t *testing.T) {
	reg := testRegistry(t)
	var c collect
	e, _ := NewEngine(reg, &c, tenMinutes)
	ch4 := func(d time.Duration, v float64) sensors.Reading {
		return sensors.Reading{Site: "cm-01", Sensor: "CH4-T1", Value: v, Time: t0.Add(d), Received: t0.Add(d)}
	}
	feed(e, 0, 12*time.Minute, 27)
	for d := time.Duration(0); d < 12*time.Minute; d += 30 * time.Second {
		e.Evaluate(ch4(d, 2))
	}
	fired := c.all()
	if len(fired) != 2 {
		t.Fatalf("events %+v, want two fired", fired)
	}
	for _, tc := range []struct {
		name   string
		sites  []string
		active []string // sites with a firing alert afterwards
	}{
		{"no site", nil, []string{"hz-01", "cm-01"}},
		{"an unknown site", []string{"zz-09"}, []string{"hz-01", "cm-01"}},
		{"cm-01", []string{"cm-01"}, []string{"hz-01"}},
	} {
		if err := e.Forget(tc.sites); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []string
		for _, a := range e.Active() {
			got = append(got, a.Site)
		}
		if len(got) != len(tc.active) {
			t.Errorf("%s: active at %v, want %v", tc.name, got, tc.active)
		}
	}
	if evs := c.all(); len(evs) != 2 {
		t.Fatalf("Forget emitted %+v", evs[2:])
	}
	// hz-01 kept its alert: the gas staying high raises nothing.
	feed(e, 12*time.Minute, 13*time.Minute, 27)
	if evs := c.all(); len(evs) != 2 {
		t.Fatalf("kept alert raised again: %+v", evs[2:])
	}
	// cm-01 forgot its: a new one once the on-delay has run again.
	for d := 12 * time.Minute; d < 24*time.Minute; d += 30 * time.Second {
		e.Evaluate(ch4(d, 2))
	}
	evs := c.all()
	if len(evs) != 3 || evs[2].Type != EventFired || evs[2].Site != "cm-01" {
		t.Fatalf("events after Forget %+v, want cm-01 fired afresh", evs[2:])
	}
}
