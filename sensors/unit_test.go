package sensors

import (
	"bytes"
	"errors"
	"math"
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
		{name: "CO in ppm keeps the 20 and 40 mg/m3 limits",
			yaml: `{kind: co, unit: ppm}`,
			unit: "ppm", inRange: 858, outRange: 859, setpoints: []float64{20 * 24.04 / 28.01, 40 * 24.04 / 28.01}},
		{name: "chlorine in ppm with the site's own limits",
			yaml: `{kind: cl2, unit: ppm, setpoints: [{level: 2, value: 0.5}, {level: 1, value: 1}]}`,
			unit: "ppm", inRange: 10, outRange: 10.2, setpoints: []float64{0.5, 1}},
		{name: "an mg/m3 limit beyond a ppm chlorine detector's range",
			yaml: `{kind: cl2, unit: ppm, setpoints: [{level: 2, value: 20}]}`,
			err:  "value 20 is outside kind cl2's range 0 to 10.1721 ppm"},
		{name: "a toxic gas in a unit it does not take",
			yaml: `{kind: h2s, unit: ppb}`,
			err:  `unit "ppb" is not one kind h2s reports in (mg/m3, ppm)`},
		{name: "dust is not a gas and has no ppm",
			yaml: `{kind: dust, unit: ppm}`,
			err:  `unit "ppm" is not one kind dust reports in (mg/m3)`},
		{name: "oxygen written % is %VOL",
			yaml: `{kind: oxygen, unit: "%"}`,
			unit: "%VOL", inRange: 20.9, outRange: 26, setpoints: []float64{19.5, 23.5}},
		{name: "oxygen in another spelling is refused",
			yaml: `{kind: oxygen, unit: "%vol"}`,
			err:  `unit "%vol" is not one kind oxygen reports in (%VOL, %)`},
		{name: "oxygen in ppm is refused",
			yaml: `{kind: o2_mine, unit: ppm}`,
			err:  `unit "ppm" is not one kind o2_mine reports in (%VOL, %)`},
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
	_, err = NewRegistry(DefaultCatalog(), []Site{{ID: "s-1"}}, []Sensor{{ID: "C-1", Site: "s-1", Kind: "co", Unit: "ppb"}})
	if err == nil || !strings.Contains(err.Error(), `kind co reports in mg/m3 or ppm, not "ppb"`) {
		t.Errorf("error %v", err)
	}
	// An alias is the kind's own unit: the sensor shares the catalog's
	// kind and is stored as if it had named %VOL.
	reg, err = NewRegistry(DefaultCatalog(), []Site{{ID: "s-1"}}, []Sensor{{ID: "O2-1", Site: "s-1", Kind: "oxygen", Unit: "%"}})
	if err != nil {
		t.Fatal(err)
	}
	o2, _ := reg.Lookup("s-1", "O2-1")
	if k, _ := DefaultCatalog().Kind("oxygen"); o2.Unit != "" || o2.KindInfo().Unit != "%VOL" || o2.KindInfo().Max != k.Max {
		t.Errorf("oxygen in %%: unit %q, kind %+v", o2.Unit, o2.KindInfo())
	}
}

// TestPPMConversion: each toxic gas's ppm option converts at 20 °C and
// 101.3 kPa (24.04 L/mol) with the gas's molar mass, and the kind says
// so; a value in the kind's own unit converts into the sensor's.
func TestPPMConversion(t *testing.T) {
	tests := []struct {
		kind       KindID
		molarMass  float64
		mgPerPPM   float64   // one ppm in mg/m3, worked by hand
		setpoints  []float64 // the default setpoints in ppm
		maxPPM     float64
		basisMolar string
	}{
		{"co", 28.01, 1.16514, []float64{17.1653, 34.3306}, 858.265, "28.01"},
		{"h2s", 34.08, 1.41764, []float64{7.05399, 14.1080}, 105.810, "34.08"},
		{"nh3", 17.03, 0.708403, []float64{28.2325, 56.4651}, 705.813, "17.03"},
		{"cl2", 70.90, 2.94925, []float64{0.339069, 0.678138}, 10.1721, "70.9"},
		{"so2", 64.07, 2.66514, []float64{1.87607, 3.75215}, 37.5215, "64.07"},
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-5*math.Max(1, math.Abs(b)) }
	cat := DefaultCatalog()
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			k, _ := cat.Kind(tt.kind)
			ku, ok := k.InUnit("ppm")
			if !ok {
				t.Fatalf("kind %s does not take ppm", tt.kind)
			}
			if got := tt.molarMass / 24.04; !near(got, tt.mgPerPPM) {
				t.Fatalf("table: %g / 24.04 = %g, not %g", tt.molarMass, got, tt.mgPerPPM)
			}
			// One ppm is mgPerPPM mg/m3: 1 mg/m3 is its inverse in ppm.
			if v, ok := ku.FromOwnUnit(tt.mgPerPPM); !ok || !near(v, 1) {
				t.Errorf("%g mg/m3 = %g ppm (ok %v), want 1", tt.mgPerPPM, v, ok)
			}
			if !near(ku.Max, tt.maxPPM) || ku.Min != 0 || ku.OwnUnit() != "mg/m3" || ku.Unit != "ppm" {
				t.Errorf("range %g..%g %s (own %s), want 0..%g ppm of mg/m3", ku.Min, ku.Max, ku.Unit, ku.OwnUnit(), tt.maxPPM)
			}
			if len(ku.Setpoints) != len(tt.setpoints) {
				t.Fatalf("setpoints %+v, want %v", ku.Setpoints, tt.setpoints)
			}
			for i, sp := range ku.Setpoints {
				if !near(sp.Value, tt.setpoints[i]) || sp.Source != k.Setpoints[i].Source {
					t.Errorf("setpoint %d: %g (%s), want %g", i, sp.Value, sp.Source, tt.setpoints[i])
				}
			}
			en, zh := ku.UnitBasis()
			for _, want := range []string{tt.basisMolar, "24.04", "20", "101.3 kPa"} {
				if !strings.Contains(en, want) || !strings.Contains(zh, want) {
					t.Errorf("basis %q / %q lacks %q", en, zh, want)
				}
			}
		})
	}
	// The kind's own unit and a unit without a fixed relation.
	co, _ := cat.Kind("co")
	if v, ok := co.FromOwnUnit(20); !ok || v != 20 || co.OwnUnit() != "mg/m3" {
		t.Errorf("co in mg/m3: %g %v %s", v, ok, co.OwnUnit())
	}
	level, _ := cat.Kind("tank_level")
	pct, _ := level.InUnit("%")
	if _, ok := pct.FromOwnUnit(12); ok {
		t.Error("a tank level in metres converted into % of span")
	}
	temp, _ := cat.Kind("mine_temperature")
	kelvin, _ := temp.InUnit("K")
	if v, ok := kelvin.FromOwnUnit(26); !ok || !near(v, 299.15) {
		t.Errorf("26 degC = %g K (ok %v)", v, ok)
	}
}

// TestUnitsCSV: the CSV registry takes a ppm detector and an oxygen
// detector written in %, and refuses a unit the kind does not take with
// the line and the units it does.
func TestUnitsCSV(t *testing.T) {
	tests := []struct {
		name string
		row  string
		unit string // the sensor's KindInfo().Unit
		l1   float64
		err  string
	}{
		{name: "H2S in ppm with the default setpoints", row: "h2s,ppm,,", unit: "ppm", l1: 10 * 24.04 / 34.08},
		{name: "NH3 in ppm with its own", row: "nh3,ppm,25,50", unit: "ppm", l1: 25},
		{name: "oxygen in %", row: "oxygen,%,,", unit: "%VOL", l1: 19.5},
		{name: "SO2 in ppb", row: "so2,ppb,,", err: `reg.csv:2: unit "ppb" is not one kind so2 reports in (mg/m3, ppm)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "site,sector,sensor,gateway,kind,unit,l1,l2\ns-1,hazchem,X-1,gw-1," + tt.row + "\n"
			reg, err := LoadCSV(DefaultCatalog(), "reg.csv", strings.NewReader(doc))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s, _ := reg.Lookup("s-1", "X-1")
			sps := s.EffectiveSetpoints()
			if s.KindInfo().Unit != tt.unit || len(sps) == 0 || math.Abs(sps[0].Value-tt.l1) > 1e-9 {
				t.Errorf("unit %s, setpoints %+v; want %s with the first at %g", s.KindInfo().Unit, sps, tt.unit, tt.l1)
			}
		})
	}
}
