package sensors

import (
	"fmt"
	"slices"
	"time"
)

// KindID names a sensor kind, e.g. "combustible_gas".
type KindID string

// Direction says which side of a setpoint is bad.
type Direction uint8

// Directions.
const (
	Above Direction = iota // alarm when value >= setpoint
	Below                  // alarm when value <= setpoint
)

func (d Direction) String() string {
	if d == Below {
		return "below"
	}
	return "above"
}

// ParseDirection accepts "above" or "below".
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "above", "high", "":
		return Above, nil
	case "below", "low":
		return Below, nil
	}
	return Above, fmt.Errorf("unknown direction %q (want above or below)", s)
}

// Setpoint is one alarm level of a threshold: the alert reaches Level when
// the value crosses Value in Direction, and leaves it only when the value
// is back past Clear (the restore value; coal mines restore power below a
// lower value than the one that cut it).
type Setpoint struct {
	Level     Level
	Direction Direction
	Value     float64
	// Clear is the restore value. When it is zero and Value is not, the
	// kind's deadband decides: Value minus Deadband above, plus below.
	Clear float64
	// Source names the standard or document the value comes from.
	Source string
}

// Trips reports whether v is on the alarm side of the setpoint.
func (s Setpoint) Trips(v float64) bool {
	if s.Direction == Below {
		return v <= s.Value
	}
	return v >= s.Value
}

// Clears reports whether v is back on the safe side of the restore value.
func (s Setpoint) Clears(v float64) bool {
	if s.Direction == Below {
		return v > s.Clear
	}
	return v < s.Clear
}

// Kind describes one kind of sensor: what it measures, in which unit, the
// span the instrument can physically report, and its default setpoints.
type Kind struct {
	ID   KindID
	Name string
	Unit string
	// Min and Max are the physical range: a value outside it is not a
	// measurement but a fault.
	Min, Max float64
	// Deadband is the default hysteresis in Unit between a setpoint and
	// its restore value.
	Deadband float64
	// Interval is how often a gateway typically reports this kind.
	Interval time.Duration
	// Setpoints are the defaults from national rules. Kinds whose limits
	// are design- or site-specific have none: those come from the site's
	// registry entry.
	Setpoints []Setpoint
	Sectors   []Sector
	// Units are the other units instruments of this kind report in; a
	// sensor names its unit in the registry.
	Units []UnitOption
	// Aliases are other spellings of Unit itself ("%" for %VOL): a
	// sensor registered with one reports in Unit, and is stored as if it
	// had named Unit.
	Aliases []string
	// Note and NoteZH say, in English and Chinese, why the defaults are
	// what they are where that is not plain from their source: a level
	// the rules do not give, a rule kept on purpose.
	Note, NoteZH string

	// own is the catalog kind's unit and conv the option this copy was
	// made from, for a kind InUnit converted; conv is nil otherwise.
	own  string
	conv *UnitOption
}

// UnitOption is another unit a kind's instruments report in, with the
// instrument's physical range and deadband in it.
type UnitOption struct {
	Unit               string
	Min, Max, Deadband float64
	// Scale and Offset convert a value in the kind's unit into this one
	// (v·Scale + Offset), so the kind's default setpoints carry over.
	// Scale 0 means there is no fixed conversion (a tank level in % of
	// its span depends on the tank): default setpoints do not carry
	// over, and the sensor's own must come from the registry.
	Scale, Offset float64
	// Basis and BasisZH state, in English and Chinese, the conditions
	// the conversion holds at where it depends on any (the temperature
	// and pressure of a ppm to mg/m3 conversion); empty for none.
	Basis, BasisZH string
}

// UnitNames lists the units the kind takes, its own first, then the
// other spellings of its own, then its other units.
func (k *Kind) UnitNames() []string {
	out := append([]string{k.Unit}, k.Aliases...)
	for _, u := range k.Units {
		out = append(out, u.Unit)
	}
	return out
}

// InUnit is the kind as its instruments report in unit: k itself for its
// own unit, one of its aliases or "", else a copy with the unit's range
// and deadband and the default setpoints converted (or none, without a
// fixed conversion). Readings stay in the unit the sensor reports in;
// only the kind's figures are converted to meet them.
// It reports false when the kind does not take the unit.
func (k *Kind) InUnit(unit string) (*Kind, bool) {
	if unit == "" || unit == k.Unit || slices.Contains(k.Aliases, unit) {
		return k, true
	}
	for i, u := range k.Units {
		if u.Unit != unit {
			continue
		}
		c := *k
		c.Unit, c.Min, c.Max, c.Deadband = u.Unit, u.Min, u.Max, u.Deadband
		c.Units, c.Aliases = nil, nil
		c.own, c.conv = k.Unit, &k.Units[i]
		c.Setpoints = nil
		if u.Scale != 0 {
			for _, sp := range k.Setpoints {
				sp.Value = sp.Value*u.Scale + u.Offset
				if sp.Clear != 0 {
					sp.Clear = sp.Clear*u.Scale + u.Offset
				}
				c.Setpoints = append(c.Setpoints, sp)
			}
		}
		return &c, true
	}
	return nil, false
}

// OwnUnit is the unit of the catalog's kind: Unit itself unless InUnit
// made k for another.
func (k *Kind) OwnUnit() string {
	if k.conv == nil {
		return k.Unit
	}
	return k.own
}

// FromOwnUnit converts v, a value in OwnUnit, into k's unit: a limit
// stated for the kind (an exposure limit in mg/m3, a rate in MPa/min)
// meets the readings of a sensor reporting in another unit through it.
// A rate or a tolerance is a difference, which the offset of K to degC
// must not shift: convert it as FromOwnUnit(d) minus FromOwnUnit(0).
// ok is false when the units have no fixed relation (a tank level in %
// of its span).
func (k *Kind) FromOwnUnit(v float64) (float64, bool) {
	if k.conv == nil {
		return v, true
	}
	if k.conv.Scale == 0 {
		return 0, false
	}
	return v*k.conv.Scale + k.conv.Offset, true
}

// AmountFromOwnUnit converts d, an amount in OwnUnit (a rate, a slope,
// a tolerance: a difference of two values), into k's unit. The offset of
// a conversion such as K to degC does not apply to a difference. ok is
// false as for FromOwnUnit.
func (k *Kind) AmountFromOwnUnit(d float64) (float64, bool) {
	if k.conv == nil {
		return d, true
	}
	if k.conv.Scale == 0 {
		return 0, false
	}
	return d * k.conv.Scale, true
}

// UnitBasis is the conditions k's unit relates to OwnUnit at, in English
// and Chinese: empty for the kind's own unit or a conversion that holds
// everywhere.
func (k *Kind) UnitBasis() (en, zh string) {
	if k.conv == nil {
		return "", ""
	}
	return k.conv.Basis, k.conv.BasisZH
}

// InRange reports whether v is inside the kind's physical range.
func (k *Kind) InRange(v float64) bool { return v >= k.Min && v <= k.Max }

// Resolve fills in restore values left at zero from the deadband.
func (k *Kind) Resolve(sps []Setpoint) []Setpoint {
	out := make([]Setpoint, len(sps))
	for i, sp := range sps {
		if sp.Clear == 0 && sp.Value != 0 {
			if sp.Direction == Below {
				sp.Clear = sp.Value + k.Deadband
			} else {
				sp.Clear = sp.Value - k.Deadband
			}
		}
		out[i] = sp
	}
	return out
}
