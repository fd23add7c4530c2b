package sensors

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestUnits: a kind reported in another unit is registered with that
// unit's range, deadband and (where a fixed conversion exists) default
// setpoints; a unit the kind does not take is a clear error.
func TestUnits(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		err       string  // substring of the load error; "" for none
		unit      string  // the sensor's KindInfo().Unit
		inRange   float64 // a value that must be in range
		outRange  float64 // and one that must not
		setpoints []float64
	}{
		{name: "tank level in % of span with its own limits",
			yaml: `{kind: tank_level, unit: "%", setpoints: [{level: 2, value: 85}, {level: 1, value: 95}]}`,
			unit: "%", inRange: 97, outRange: 101, setpoints: []float64{85, 95}},
		{name: "tank level in metres as before",
			yaml: `{kind: tank_level, setpoints: [{level: 2, value: 12}]}`,
			unit: "m", inRange: 39, outRange: 41, setpoints: []float64{12}},
		{name: "a % limit on a tank level in metres is out of range",
			yaml: `{kind: tank_level, setpoints: [{level: 2, value: 85}]}`,
			err:  "outside kind tank_level's range 0 to 40 m"},
		{name: "a unit the kind does not take",
			yaml: `{kind: tank_level, unit: ft}`,
			err:  `unit "ft" is not one kind tank_level reports in (m, %)`},
		{name: "pressure in kPa",
			yaml: `{kind: line_pressure, unit: kPa, setpoints: [{level: 2, direction: below, value: 350}]}`,
			unit: "kPa", inRange: 4000, outRange: 10001, setpoints: []float64{350}},
		{name: "mine air temperature in K keeps the 26 degC limit",
			yaml: `{kind: mine_temperature, unit: K}`,
			unit: "K", inRange: 300, outRange: 200, setpoints: []float64{299.15}},
		{name: "the kind's own unit named",
			yaml: `{kind: pressure, unit: MPa}`,
			unit: "MPa", inRange: 4, outRange: 41},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "sites:\n  - id: s-1\n    sector: hazchem\n    sensors:\n      - " +
				strings.Replace(tt.yaml, "{", "{id: X-1, gateway: gw-1, ", 1) + "\n"
			reg, err := LoadYAML(DefaultCatalog(), "reg.yaml", strings.NewReader(doc))
			if tt.err != "" {
				var le *LoadError
				if err == nil || !errors.As(err, &le) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s, _ := reg.Lookup("s-1", "X-1")
			k := s.KindInfo()
			if k.Unit != tt.unit || !k.InRange(tt.inRange) || k.InRange(tt.outRange) {
				t.Errorf("kind in %s, range %g-%g; want %s with %g in range and %g not", k.Unit, k.Min, k.Max, tt.unit, tt.inRange, tt.outRange)
			}
			var got []float64
			for _, sp := range s.EffectiveSetpoints() {
				got = append(got, sp.Value)
			}
			if len(got) != len(tt.setpoints) {
				t.Fatalf("setpoints %v, want %v", got, tt.setpoints)
			}
			for i := range got {
				if d := got[i] - tt.setpoints[i]; d > 1e-9 || d < -1e-9 {
					t.Errorf("setpoints %v, want %v", got, tt.setpoints)
				}
			}
			// The unit survives a round trip through the writer.
			var buf bytes.Buffer
			if err := reg.WriteYAML(&buf); err != nil {
				t.Fatal(err)
			}
			again, err := LoadYAML(DefaultCatalog(), "again.yaml", &buf)
			if err != nil {
				t.Fatalf("written registry does not load: %v\n%s", err, buf.String())
			}
			s2, _ := again.Lookup("s-1", "X-1")
			if s2.KindInfo().Unit != tt.unit {
				t.Errorf("after a round trip the unit is %s, want %s", s2.KindInfo().Unit, tt.unit)
			}
		})
	}
}

// TestUnitsInCode: sensors built in code name their unit too.
func TestUnitsInCode(t *testing.T) {
	reg, err := NewRegistry(DefaultCatalog(), []Site{{ID: "s-1"}}, []Sensor{
		{ID: "L-1", Site: "s-1", Kind: "tank_level", Unit: "%"},
		{ID: "L-2", Site: "s-1", Kind: "tank_level", Unit: "%"},
		{ID: "L-3", Site: "s-1", Kind: "tank_level", Unit: "m"},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := reg.Lookup("s-1", "L-1")
	b, _ := reg.Lookup("s-1", "L-2")
	c, _ := reg.Lookup("s-1", "L-3")
	if a.KindInfo() != b.KindInfo() || a.KindInfo().Max != 100 || c.KindInfo().Max != 40 || c.Unit != "" {
		t.Errorf("kinds %+v %+v %+v", a.KindInfo(), b.KindInfo(), c)
	}
	_, err = NewRegistry(DefaultCatalog(), []Site{{ID: "s-1"}}, []Sensor{{ID: "C-1", Site: "s-1", Kind: "co", Unit: "ppm"}})
	if err == nil || !strings.Contains(err.Error(), `kind co reports in mg/m3, not "ppm"`) {
		t.Errorf("error %v", err)
	}
}
