package demo

import (
	"testing"

	"github.com/riskmon/riskmon/sensors"
)

func TestTally(t *testing.T) {
	pg := func(key, id, typ string, l sensors.Level) page {
		return page{Key: key, AlertID: id, Rule: "combustible_gas_high", Site: "hz-01", Sensor: "GT-201", Type: typ, Level: l}
	}
	y, o, r, none := sensors.LevelYellow, sensors.LevelOrange, sensors.LevelRed, sensors.LevelNone
	cases := []struct {
		name              string
		pages             []page
		raised, dups, res int
	}{
		{"one alarm up and down", []page{pg("1", "a", "fired", y), pg("2", "a", "escalated", o), pg("3", "a", "escalated", r),
			pg("4", "a", "deescalated", o), pg("5", "a", "resolved", none)}, 1, 0, 0},
		{"a retry with the same key is resent, not a duplicate", []page{pg("1", "a", "fired", y), pg("1", "a", "fired", y)}, 1, 0, 1},
		{"a second instance fires its own alarm while the first is open", []page{pg("1", "a", "fired", y),
			pg("2", "b", "fired", o)}, 2, 1, 0},
		{"the same escalation from two instances", []page{pg("1", "a", "fired", y), pg("2", "a", "escalated", r),
			pg("3", "b", "escalated", r)}, 1, 1, 0},
		{"resolved twice", []page{pg("1", "a", "fired", y), pg("2", "a", "resolved", none), pg("3", "b", "resolved", none)}, 1, 1, 0},
		{"a new episode after a resolve is not a duplicate", []page{pg("1", "a", "fired", y), pg("2", "a", "resolved", none),
			pg("3", "b", "fired", y), pg("4", "b", "resolved", none)}, 2, 0, 0},
		{"reminders and acknowledgements are not judged", []page{pg("1", "a", "fired", y), pg("2", "a", "reminder", y),
			pg("3", "a", "reminder", y), pg("4", "a", "acknowledged", y)}, 1, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tally(tc.pages)
			if got.Raised != tc.raised || got.Duplicates != tc.dups || got.Resent != tc.res {
				t.Errorf("raised %d, duplicates %d, resent %d; want %d, %d, %d (%v)", got.Raised, got.Duplicates, got.Resent,
					tc.raised, tc.dups, tc.res, got.Why)
			}
			if len(got.Why) != got.Duplicates {
				t.Errorf("%d reasons for %d duplicates", len(got.Why), got.Duplicates)
			}
		})
	}
}
