package lifecycle

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// TestShelveScope: without admin rights only one alarm that is not red
// may be shelved; wider scopes, out-of-service and red alarms need an
// admin; "*" and names the registry does not hold are refused for
// everyone.
func TestShelveScope(t *testing.T) {
	known := func(m Matcher) error {
		if m.Site != "" && m.Site != "hz-01" && m.Site != "hz-02" {
			return fmt.Errorf("no site %q", m.Site)
		}
		if m.Kind != "" && m.Kind != "combustible_gas" {
			return fmt.Errorf("no kind %q", m.Kind)
		}
		return nil
	}
	open := func() []alerting.Record {
		return []alerting.Record{{ID: "red1", Site: "hz-02", Sensor: "GT-9", Rule: "combustible_gas_high", Kind: "combustible_gas", Level: sensors.LevelRed}}
	}
	one := Matcher{Site: "hz-01", Sensor: "GT-101", Rule: "combustible_gas_high"}
	tests := []struct {
		name  string
		mode  ShelfMode
		match Matcher
		dur   time.Duration
		admin bool
		want  error  // nil: accepted
		code  string // the refusal's code
	}{
		{"operator shelves one alarm", ModeShelved, one, time.Hour, false, nil, ""},
		{"operator shelves a sensor", ModeShelved, Matcher{Site: "hz-01", Sensor: "GT-101"}, time.Hour, false, ErrShelfNeedsAdmin, RefusedWideScope},
		{"operator shelves a site", ModeShelved, Matcher{Site: "hz-01"}, time.Hour, false, ErrShelfNeedsAdmin, RefusedWideScope},
		{"operator: every gas detector out of service for 7 days", ModeOutOfService, Matcher{Kind: "combustible_gas"}, 7 * 24 * time.Hour, false, ErrShelfNeedsAdmin, RefusedOutOfService},
		{"operator: one alarm out of service", ModeOutOfService, one, time.Hour, false, ErrShelfNeedsAdmin, RefusedOutOfService},
		{"operator shelves a red alarm", ModeShelved, Matcher{Site: "hz-02", Sensor: "GT-9", Rule: "combustible_gas_high"}, time.Hour, false, ErrShelfNeedsAdmin, RefusedRedAlarm},
		{"admin: every gas detector out of service", ModeOutOfService, Matcher{Kind: "combustible_gas"}, 7 * 24 * time.Hour, true, nil, ""},
		{"admin shelves a red alarm", ModeShelved, Matcher{Site: "hz-02", Sensor: "GT-9", Rule: "combustible_gas_high"}, time.Hour, true, nil, ""},
		{"star site", ModeShelved, Matcher{Site: "*"}, time.Hour, true, ErrBadShelf, RefusedWildcard},
		{"unknown site", ModeShelved, Matcher{Site: "nowhere", Sensor: "GT-101", Rule: "combustible_gas_high"}, time.Hour, false, ErrBadShelf, RefusedUnknownScope},
		{"unknown kind, admin", ModeOutOfService, Matcher{Kind: "unobtainium"}, time.Hour, true, ErrBadShelf, RefusedUnknownScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewShelves(alerting.SinkFunc(func(alerting.Event) {}), ShelvesOptions{CheckMatch: known, Open: open})
			if err != nil {
				t.Fatal(err)
			}
			sh, err := s.Shelve(ShelfRequest{Mode: tt.mode, Match: tt.match, Reason: "r", By: "wang", Duration: tt.dur, Admin: tt.admin})
			if tt.want == nil {
				if err != nil || sh.CoversRed != tt.admin {
					t.Fatalf("refused or wrong: %+v %v", sh, err)
				}
				return
			}
			if !errors.Is(err, tt.want) || len(s.Shelves()) != 0 {
				t.Fatalf("err = %v, want %v and no shelf", err, tt.want)
			}
			if codes := RefusalCodes(err); len(codes) != 1 || codes[0] != tt.code {
				t.Errorf("refusal codes %v, want [%s]", codes, tt.code)
			}
		})
	}
}

// TestRefusalCodes: a request wrong in several ways says each, with its
// code, in order.
func TestRefusalCodes(t *testing.T) {
	s, err := NewShelves(alerting.SinkFunc(func(alerting.Event) {}), ShelvesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Shelve(ShelfRequest{Mode: "nap", Match: Matcher{Sensor: "GT-101"}, Duration: -time.Hour})
	if got, want := fmt.Sprint(RefusalCodes(err)), fmt.Sprint([]string{RefusedMode, RefusedSensorSite, RefusedReason, RefusedBy, RefusedDuration}); got != want || !errors.Is(err, ErrBadShelf) {
		t.Errorf("codes %s, want %s (err %v)", got, want, err)
	}
	if c := RefusalCodes(errors.New("disk full")); c != nil {
		t.Errorf("codes %v of an error that is no refusal", c)
	}
}

// TestOperatorShelfLetsRedThrough: an operator's shelf covers its alarm
// while it is orange, but its escalation to red and its way back down
// are not marked, so they are notified; an admin's shelf covers red too.
func TestOperatorShelfLetsRedThrough(t *testing.T) {
	var got []alerting.Event
	s, err := NewShelves(alerting.SinkFunc(func(e alerting.Event) { got = append(got, e) }), ShelvesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := Matcher{Site: "hz-01", Sensor: "GT-101", Rule: "combustible_gas_high"}
	op, err := s.Shelve(ShelfRequest{Mode: ModeShelved, Match: m, Reason: "r", By: "wang", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ev := func(typ alerting.EventType, prev, lv sensors.Level) alerting.Event {
		return alerting.Event{AlertID: "a", Site: "hz-01", Sensor: "GT-101", Rule: "combustible_gas_high", Kind: "combustible_gas", Type: typ, PrevLevel: prev, Level: lv}
	}
	s.Emit(ev(alerting.EventFired, sensors.LevelNone, sensors.LevelOrange))
	s.Emit(ev(alerting.EventEscalated, sensors.LevelOrange, sensors.LevelRed))
	s.Emit(ev(alerting.EventDeescalated, sensors.LevelRed, sensors.LevelOrange))
	want := []string{op.ID, "", ""}
	for i, e := range got {
		if e.Shelved != want[i] {
			t.Fatalf("event %d (%s to %s): shelved %q, want %q", i, e.PrevLevel, e.Level, e.Shelved, want[i])
		}
	}
	if _, err := s.Unshelve(op.ID, "wang"); err != nil {
		t.Fatal(err)
	}
	adm, err := s.Shelve(ShelfRequest{Mode: ModeShelved, Match: m, Reason: "r", By: "zhao", Duration: time.Hour, Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	s.Emit(ev(alerting.EventEscalated, sensors.LevelOrange, sensors.LevelRed))
	if got[0].Shelved != adm.ID {
		t.Fatalf("admin shelf did not cover red: %+v", got[0])
	}
}
