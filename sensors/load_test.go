package sensors

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sp builds a setpoint for expectations.
func sp(l Level, d Direction, value, clear float64, src string) Setpoint {
	return Setpoint{Level: l, Direction: d, Value: value, Clear: clear, Source: src}
}

func mustLoad(t *testing.T, path string) *Registry {
	t.Helper()
	reg, err := LoadFile(DefaultCatalog(), path)
	if err != nil {
		t.Fatalf("LoadFile(%s): %v", path, err)
	}
	return reg
}

func TestLoadGood(t *testing.T) {
	type wantSensor struct {
		site, id  string
		kind      KindID
		gateway   string
		location  string
		role      string
		setpoints []Setpoint // the sensor's own, resolved
	}
	// Restore values are computed at run time, in float64, as Resolve
	// computes them; constant expressions would be exact.
	tankDB, phreaticDB, pressureDB, windDB := 0.05, 0.1, 0.02, 0.05
	for _, tc := range []struct {
		file    string
		sites   map[string]Site
		sensors int
		check   []wantSensor
	}{
		{
			file: "testdata/fleet.yaml",
			sites: map[string]Site{
				"hz-tankfarm-01":    {ID: "hz-tankfarm-01", Name: "Tank farm 1", Sector: SectorHazchem},
				"coal-mine-07":      {ID: "coal-mine-07", Name: "No. 7 coal mine", Sector: SectorCoal},
				"pond-03":           {ID: "pond-03", Name: "Tailings pond 3", Sector: SectorNonCoal},
				"gas-district-east": {ID: "gas-district-east", Sector: SectorUrbanGas},
			},
			sensors: 10,
			check: []wantSensor{
				{site: "hz-tankfarm-01", id: "GT-101", kind: "combustible_gas", gateway: "gw-01", location: "tank T-1 north",
					setpoints: []Setpoint{}},
				{site: "hz-tankfarm-01", id: "GT-102", kind: "combustible_gas", gateway: "gw-01", location: "tank T-1 south",
					setpoints: []Setpoint{
						sp(LevelOrange, Above, 20, 18, "site design doc"),
						sp(LevelRed, Above, 40, 38, "site design doc"), // deadband 2
					}},
				{site: "hz-tankfarm-01", id: "LT-201", kind: "tank_level", gateway: "gw-02", location: "tank T-1",
					setpoints: []Setpoint{
						sp(LevelOrange, Above, 14.5, 14.5-tankDB, "GB 50074-2014 §15.1 high level, design sheet"),
						sp(LevelRed, Above, 15.2, 15.2-tankDB, "HH interlock, design sheet"),
						sp(LevelOrange, Below, 0.8, 0.8+tankDB, "pump cavitation, design sheet"),
					}},
				{site: "coal-mine-07", id: "0101", kind: "ch4", gateway: "kj-01", location: "working face 1201", role: "T1",
					setpoints: []Setpoint{}},
				{site: "coal-mine-07", id: "0102", kind: "ch4", gateway: "kj-01", location: "face 1201 return airway", role: "T2",
					setpoints: []Setpoint{
						sp(LevelOrange, Above, 1, 1, "AQ 1029-2019 settings table, T2"),
						sp(LevelRed, Above, 1, 1, "AQ 1029-2019 settings table, T2"),
					}},
				{site: "pond-03", id: "PZ-1", kind: "phreatic_depth", gateway: "rtu-1",
					setpoints: []Setpoint{
						sp(LevelRed, Below, 6, 6+phreaticDB, "pond design, GB 50863 table"),
						sp(LevelOrange, Below, 6.6, 6.6+phreaticDB, "1.1 x red, GB 51108 §8.3.4"),
					}},
				{site: "gas-district-east", id: "MH-0001", kind: "manhole_tilt", gateway: "nb-iot.east", location: "Jiefang Rd / 3rd St",
					setpoints: []Setpoint{}},
			},
		},
		{
			// Excel's CSV: byte order mark, CRLF, quoted fields, a trailing
			// row of empty cells, sites interleaved.
			file: "testdata/fleet.csv",
			sites: map[string]Site{
				"hz-refinery-02": {ID: "hz-refinery-02", Name: "Refinery 2", Sector: SectorHazchem},
				"coal-mine-09":   {ID: "coal-mine-09", Name: "No. 9 mine", Sector: SectorCoal},
				"pipe-west-1":    {ID: "pipe-west-1", Name: "West line station 1", Sector: SectorPipeline},
			},
			sensors: 6,
			check: []wantSensor{
				{site: "hz-refinery-02", id: "GT-1", kind: "combustible_gas", gateway: "gw-a", location: "unit 3, pump row",
					setpoints: []Setpoint{}},
				{site: "hz-refinery-02", id: "H2S-1", kind: "h2s", gateway: "gw-a", location: "unit 3",
					setpoints: []Setpoint{sp(LevelOrange, Above, 5, 4, ""), sp(LevelRed, Above, 10, 9, "")}},
				{site: "hz-refinery-02", id: "PT-7", kind: "pressure", gateway: "gw-b", location: `line 7 "east"`,
					setpoints: []Setpoint{sp(LevelOrange, Above, 1.6, 1.6-pressureDB, ""), sp(LevelRed, Above, 1.8, 1.8-pressureDB, "")}},
				{site: "coal-mine-09", id: "T1-1201", kind: "ch4", gateway: "kj-9", location: "working face 1201", role: "T1",
					setpoints: []Setpoint{}},
				{site: "coal-mine-09", id: "WS-1", kind: "wind_speed", gateway: "kj-9", location: "main intake",
					setpoints: []Setpoint{sp(LevelOrange, Below, 0.3, 0.3+windDB, ""), sp(LevelRed, Below, 0.25, 0.25+windDB, "")}},
				{site: "pipe-west-1", id: "LP-1", kind: "line_pressure", gateway: "rtu-w1", setpoints: []Setpoint{}},
			},
		},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			reg := mustLoad(t, tc.file)
			if reg.Len() != tc.sensors {
				t.Errorf("Len() = %d, want %d", reg.Len(), tc.sensors)
			}
			if got := len(reg.Sites()); got != len(tc.sites) {
				t.Errorf("%d sites, want %d", got, len(tc.sites))
			}
			for id, want := range tc.sites {
				got, ok := reg.Site(id)
				if !ok {
					t.Errorf("site %s missing", id)
					continue
				}
				if *got != want {
					t.Errorf("site %s = %+v, want %+v", id, *got, want)
				}
			}
			for _, w := range tc.check {
				s, ok := reg.Lookup(w.site, w.id)
				if !ok {
					t.Errorf("sensor %s/%s missing", w.site, w.id)
					continue
				}
				if s.Kind != w.kind || s.Gateway != w.gateway || s.Location != w.location || s.Role != w.role {
					t.Errorf("sensor %s/%s = kind %s gateway %s location %q role %q, want %s %s %q %q",
						w.site, w.id, s.Kind, s.Gateway, s.Location, s.Role, w.kind, w.gateway, w.location, w.role)
				}
				if s.KindInfo() == nil || s.KindInfo().ID != w.kind {
					t.Errorf("sensor %s/%s: KindInfo() = %v, want kind %s", w.site, w.id, s.KindInfo(), w.kind)
				}
				if !reflect.DeepEqual(s.Setpoints, w.setpoints) {
					t.Errorf("sensor %s/%s setpoints:\n got  %+v\n want %+v", w.site, w.id, s.Setpoints, w.setpoints)
				}
				// Without setpoints of its own a sensor falls back on its
				// kind's defaults.
				if len(w.setpoints) == 0 {
					want := s.KindInfo().Resolve(s.KindInfo().Setpoints)
					if got := s.EffectiveSetpoints(); !reflect.DeepEqual(got, want) {
						t.Errorf("sensor %s/%s effective setpoints = %+v, want kind defaults %+v", w.site, w.id, got, want)
					}
				}
			}
		})
	}
}

// TestLoadBad runs every testdata/*.bad.yaml and *.bad.csv and checks the
// exact problems, as line: message, each file reports.
func TestLoadBad(t *testing.T) {
	var known []string
	for _, k := range DefaultCatalog().Kinds() {
		known = append(known, string(k.ID))
	}
	allKinds := strings.Join(known, ", ")
	want := map[string][]string{
		"alias.bad.yaml": {
			"12: gateway: want a single value, got alias *gw (aliases are not supported: write the value out)",
			"13: setpoints: want a list, got alias *std (aliases are not supported: write the value out)",
		},
		"dup_sensor.bad.csv": {
			"5: duplicate sensor \"GT-1\" in site \"hz-01\" (first at line 2)",
		},
		"dup_sensor.bad.yaml": {
			"7: duplicate sensor \"GT-1\" in site \"hz-01\" (first at line 5)",
		},
		"dup_site.bad.yaml": {
			"8: duplicate site \"hz-01\" (first at line 2)",
		},
		"empty.bad.csv": {
			"1: empty file: want a header row naming the columns",
		},
		"empty.bad.yaml": {
			"1: empty file: want a mapping with a sites list",
		},
		"fields.bad.csv": {
			"2: missing site id",
			"3: missing sector",
			"4: missing sensor id",
			"5: missing kind",
			"6: missing gateway",
			"7: unknown kind \"combustable_gas\" (did you mean \"combustible_gas\"?)",
			"8: unit \"ppm\" is not one kind combustible_gas reports in (%LEL)",
			"9: l1 \"25%\" is not a finite number",
			"10: l2 150 is outside kind combustible_gas's range 0 to 100 %LEL",
			"11: unknown direction \"down\" (want above or below)",
			"12: level 1-red at 25 would trip before level 2-orange at 50",
			"13: field 10 is past the header's 9 columns",
			"14: unknown sector \"petrochem\" (want one of hazchem, coal, noncoal, pipeline, urbangas)",
		},
		"gbk.bad.csv": {
			"2: not UTF-8 text: save the sheet as \"CSV UTF-8\" (GBK and other code pages are not supported)",
		},
		"ident.bad.yaml": {
			"2: bad site id \"hz/01\": use letters, digits, '-', '_' and '.'",
			"3: site name \"Tank farm\\n1\" holds a line break or other control character",
			"6: bad sensor id \"GT 1\": use letters, digits, '-', '_' and '.'",
			"8: bad gateway \"gw+1\": use letters, digits, '-', '_' and '.'",
			"9: location \"north\\tside\" holds a line break or other control character",
		},
		"missing.bad.yaml": {
			"2: missing site id",
			"4: missing sector",
			"8: missing sensor id",
			"10: missing kind",
			"12: missing gateway",
			"18: missing level",
			"18: missing value",
		},
		"missing_column.bad.csv": {
			"1: missing column \"gateway\"",
		},
		"multi.bad.csv": {
			"3: duplicate sensor \"GT-1\" in site \"hz-01\" (first at line 2)",
			"4: site \"hz-01\" is in sector coal here but hazchem at line 2",
			"5: unit \"ppb\" is not one kind co reports in (mg/m3, ppm)",
			"6: unknown kind \"h2z\" (did you mean \"h2s\"?)",
			"7: missing gateway",
			"7: l1 250 is outside kind combustible_gas's range 0 to 100 %LEL",
		},
		"multi.bad.yaml": {
			"7: duplicate sensor \"GT-1\" in site \"hz-01\" (first at line 6)",
			"8: unit \"ppb\" is not one kind co reports in (mg/m3, ppm)",
			"9: unknown kind \"h2z\" (did you mean \"h2s\"?)",
			"10: missing gateway",
			"13: value 250 is outside kind combustible_gas's range 0 to 100 %LEL",
			"15: unknown sector \"mining\" (want one of hazchem, coal, noncoal, pipeline, urbangas)",
			"16: duplicate site \"hz-01\" (first at line 3)",
		},
		"no_sites.bad.yaml": {
			"2: missing sites",
		},
		"not_mapping.bad.yaml": {
			"1: file: want a mapping, got a list",
		},
		"quote.bad.csv": {
			"3: bare \" in non-quoted-field",
			"4: extraneous or missing \" in quoted-field",
		},
		"sector.bad.yaml": {
			"3: unknown sector \"chemicals\" (want one of hazchem, coal, noncoal, pipeline, urbangas)",
			"5: unknown sector \"Coal\" (want one of hazchem, coal, noncoal, pipeline, urbangas)",
		},
		"sector_conflict.bad.csv": {
			"3: site \"hz-01\" is in sector coal here but hazchem at line 2",
			"4: site \"hz-01\" is named \"Tank farm one\" here but \"Tank farm 1\" at line 2",
		},
		"setpoint.bad.yaml": {
			"9: unknown level \"5\" (want 1-4 or red, orange, yellow, blue)",
			"10: unknown level \"purple\" (want 1-4 or red, orange, yellow, blue)",
			"11: unknown direction \"sideways\" (want above or below)",
			"12: value \"lots\" is not a finite number",
			"13: value \".nan\" is not a finite number",
			"14: value 120 is outside kind combustible_gas's range 0 to 100 %LEL",
			"15: clear -5 is outside kind combustible_gas's range 0 to 100 %LEL",
			"16: value \"1e999\" is not a finite number",
		},
		"setpoint_order.bad.yaml": {
			"9: clear 30 is above value 25: the alarm would clear as soon as it trips",
			"10: level 1-red at 20 would trip before level 2-orange at 25 (line 9)",
			"11: a second level 2-orange above setpoint (first at line 9)",
			"16: clear 19 is below value 19.5: the alarm would clear as soon as it trips",
			"17: level 1-red at 19.6 would trip before level 2-orange at 19.5 (line 16)",
		},
		"structure.bad.yaml": {
			"4: sensors: want a list, got \"GT-1\"",
			"5: site: want a mapping, got \"just-a-string\"",
			"6: id: want a single value, got a list",
			"9: sensor: want a mapping, got \"GT-2\"",
			"13: setpoints: want a list, got a mapping",
		},
		"syntax.bad.yaml": {
			"5: did not find expected ',' or ']'",
		},
		"two_docs.bad.yaml": {
			"4: a second YAML document: a registry file holds one",
		},
		"unit.bad.yaml": {
			"7: unit \"ppb\" is not one kind co reports in (mg/m3, ppm)",
			"11: unit \"%lel\" is not one kind combustible_gas reports in (%LEL)",
		},
		"unknown_column.bad.csv": {
			"1: unknown column \"l3\" (want site, sector, sensor, kind, gateway, site_name, unit, sparkplug, location, role, l1, l2, direction, source)",
			"1: column \"sector\" given twice",
			"1: unknown column \"description\" (want site, sector, sensor, kind, gateway, site_name, unit, sparkplug, location, role, l1, l2, direction, source)",
		},
		"unknown_key.bad.yaml": {
			"1: file: unknown key \"site\" (want sites)",
			"6: site: unknown key \"owner\" (want id, name, sector, guidance, sensors)",
			"11: sensor: unknown key \"setpiont\" (want id, kind, unit, gateway, sparkplug, location, role, setpoints)",
			"16: sensor: key \"gateway\" given twice",
			"18: setpoint: unknown key \"hysteresis\" (want level, direction, value, clear, source)",
		},
		"unknown_kind.bad.yaml": {
			"6: unknown kind \"combustable_gas\" (did you mean \"combustible_gas\"?)",
			"9: unknown kind \"plutonium\" (known kinds: " + allKinds + ")",
		},
	}

	files, err := filepath.Glob("testdata/*.bad.*")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, path := range files {
		name := filepath.Base(path)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expected problems listed for %s", path)
			}
			reg, err := LoadFile(DefaultCatalog(), path)
			if reg != nil {
				t.Errorf("got a registry of %d sensors, want none", reg.Len())
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error = %v (%T), want a *LoadError", err, err)
			}
			var got []string
			for _, p := range le.Problems {
				if p.File != path {
					t.Errorf("problem %q names file %q, want %q", p.Msg, p.File, path)
				}
				got = append(got, strconv.Itoa(p.Line)+": "+p.Msg)
			}
			for _, g := range got {
				if !slices.Contains(w, g) {
					t.Errorf("unexpected problem %q", g)
				}
			}
			for _, m := range w {
				if !slices.Contains(got, m) {
					t.Errorf("missing problem %q", m)
				}
			}
			if len(got) != len(w) {
				t.Errorf("%d problems, want %d:\n%s", len(got), len(w), err)
			}
		})
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("expected problems listed for %s, but there is no such file", name)
		}
	}
}

// TestLoadErrorAllAtOnce checks that a file with many problems reports all
// of them in one error, one file:line: message a line, in line order.
func TestLoadErrorAllAtOnce(t *testing.T) {
	for _, path := range []string{"testdata/multi.bad.yaml", "testdata/multi.bad.csv"} {
		_, err := LoadFile(DefaultCatalog(), path)
		var le *LoadError
		if !errors.As(err, &le) {
			t.Fatalf("%s: error = %v, want a *LoadError", path, err)
		}
		if len(le.Problems) < 5 {
			t.Errorf("%s: %d problems, want at least 5:\n%v", path, len(le.Problems), err)
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != len(le.Problems) {
			t.Fatalf("%s: Error() has %d lines for %d problems", path, len(lines), len(le.Problems))
		}
		for i, p := range le.Problems {
			prefix := path + ":" + strconv.Itoa(p.Line) + ": "
			if lines[i] != prefix+p.Msg {
				t.Errorf("%s: Error() line %d = %q, want %q", path, i, lines[i], prefix+p.Msg)
			}
			if i > 0 && p.Line < le.Problems[i-1].Line {
				t.Errorf("%s: problem %d at line %d comes after line %d", path, i, p.Line, le.Problems[i-1].Line)
			}
		}
	}
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "fleet.yaml", Line: 3, Msg: "missing kind"}, "fleet.yaml:3: missing kind"},
		{Problem{File: "fleet.yaml", Msg: "registry: x"}, "fleet.yaml: registry: x"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	cat := DefaultCatalog()
	if _, err := LoadFile(cat, "testdata/fleet.toml"); err == nil || !strings.Contains(err.Error(), "unknown registry format") {
		t.Errorf("LoadFile(.toml) error = %v, want unknown registry format", err)
	}
	if _, err := LoadFile(cat, "testdata/no-such-file.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadFile(missing) error = %v, want fs.ErrNotExist", err)
	}
	// A read error is not a problem in the file and must not look like one.
	for _, tc := range []struct {
		name  string
		load  func(*Catalog, string, io.Reader) (*Registry, error)
		start string
	}{
		{"yaml", LoadYAML, "sites:\n"},
		{"csv", LoadCSV, "site,sector,sensor,kind,gateway\n"},
	} {
		_, err := tc.load(cat, "fleet", io.MultiReader(strings.NewReader(tc.start), errReader{}))
		var le *LoadError
		if !errors.Is(err, errBroken) || errors.As(err, &le) {
			t.Errorf("%s: error = %v (%T), want errBroken and no *LoadError", tc.name, err, err)
		}
	}
}

var errBroken = errors.New("disk on fire")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBroken }

// sameRegistry reports how b differs from a, or "".
func sameRegistry(a, b *Registry) string {
	if !reflect.DeepEqual(a.Sites(), b.Sites()) {
		return "sites differ"
	}
	if a.Len() != b.Len() {
		return "sensor counts differ: " + strconv.Itoa(a.Len()) + " and " + strconv.Itoa(b.Len())
	}
	for _, s := range a.Sensors() {
		o, ok := b.Lookup(s.Site, s.ID)
		if !ok {
			return "sensor " + s.Site + "/" + s.ID + " missing"
		}
		// The position in the registry is bookkeeping, not content: a
		// written file groups sensors by site.
		sc, oc := *s, *o
		sc.index, oc.index = 0, 0
		if !reflect.DeepEqual(sc, oc) {
			return "sensor " + s.Site + "/" + s.ID + " differs"
		}
	}
	return ""
}

func TestWriteYAMLRoundTrip(t *testing.T) {
	for _, path := range []string{"testdata/fleet.yaml", "testdata/fleet.csv"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			reg := mustLoad(t, path)
			var first bytes.Buffer
			if err := reg.WriteYAML(&first); err != nil {
				t.Fatalf("WriteYAML: %v", err)
			}
			back, err := LoadYAML(reg.Catalog(), "written.yaml", bytes.NewReader(first.Bytes()))
			if err != nil {
				t.Fatalf("LoadYAML of written file: %v\n%s", err, first.String())
			}
			if d := sameRegistry(reg, back); d != "" {
				t.Fatalf("round trip: %s\n%s", d, first.String())
			}
			var second bytes.Buffer
			if err := back.WriteYAML(&second); err != nil {
				t.Fatalf("WriteYAML: %v", err)
			}
			if first.String() != second.String() {
				t.Errorf("second write differs from the first:\n%s\n---\n%s", first.String(), second.String())
			}
		})
	}
}

func TestWriteYAMLFile(t *testing.T) {
	reg := mustLoad(t, "testdata/fleet.yaml")
	dir := t.TempDir()
	path := filepath.Join(dir, "written.yaml")
	if err := reg.WriteYAMLFile(path); err != nil {
		t.Fatalf("WriteYAMLFile: %v", err)
	}
	if d := sameRegistry(reg, mustLoad(t, path)); d != "" {
		t.Errorf("written file loads back different: %s", d)
	}
	if err := reg.WriteYAMLFile(filepath.Join(dir, "missing", "x.yaml")); err == nil {
		t.Error("WriteYAMLFile into a missing folder: no error")
	}
}

func TestWriteYAMLFormat(t *testing.T) {
	cat := DefaultCatalog()
	reg, err := NewRegistry(cat,
		[]Site{{ID: "hz-01", Name: "Tank farm 1", Sector: SectorHazchem}, {ID: "coal-01", Sector: SectorCoal}},
		[]Sensor{
			{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw-01", Location: "tank T-1 north",
				Setpoints: []Setpoint{{Level: LevelOrange, Direction: Above, Value: 25, Clear: 23, Source: "site design doc"}}},
			{ID: "0101", Site: "coal-01", Kind: "ch4", Gateway: "kj-1", Role: "T1"},
		})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := reg.WriteYAML(&b); err != nil {
		t.Fatal(err)
	}
	want := `sites:
  - id: coal-01
    sector: coal
    sensors:
      - id: "0101"
        kind: ch4
        unit: '%CH4'
        gateway: kj-1
        role: T1
  - id: hz-01
    name: Tank farm 1
    sector: hazchem
    sensors:
      - id: GT-101
        kind: combustible_gas
        unit: '%LEL'
        gateway: gw-01
        location: tank T-1 north
        setpoints:
          - {level: 2, direction: above, value: 25, clear: 23, source: site design doc}
`
	if b.String() != want {
		t.Errorf("WriteYAML:\n%s\nwant:\n%s", b.String(), want)
	}

	empty, err := NewRegistry(cat, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := empty.WriteYAML(&b); err != nil {
		t.Fatal(err)
	}
	back, err := LoadYAML(cat, "empty.yaml", &b)
	if err != nil || back.Len() != 0 || len(back.Sites()) != 0 {
		t.Errorf("empty registry round trip: %v, %v", back, err)
	}
}

func TestDefaultCatalog(t *testing.T) {
	kinds := DefaultCatalog().Kinds()
	if len(kinds) < 15 {
		t.Errorf("%d kinds, want at least 15", len(kinds))
	}
	for _, k := range kinds {
		if k.ID == "" || k.Name == "" || k.Unit == "" {
			t.Errorf("kind %q: id, name and unit must be set: %+v", k.ID, k)
		}
		if k.Interval <= 0 {
			t.Errorf("kind %s: interval %v, want > 0", k.ID, k.Interval)
		}
		if k.Min >= k.Max {
			t.Errorf("kind %s: range %g to %g is empty", k.ID, k.Min, k.Max)
		}
		if k.Deadband < 0 || k.Deadband >= k.Max-k.Min {
			t.Errorf("kind %s: deadband %g does not fit range %g to %g", k.ID, k.Deadband, k.Min, k.Max)
		}
		if len(k.Sectors) == 0 {
			t.Errorf("kind %s: no sectors", k.ID)
		}
		for _, s := range k.Sectors {
			if _, err := ParseSector(string(s)); err != nil {
				t.Errorf("kind %s: %v", k.ID, err)
			}
		}
		for _, sp := range k.Setpoints {
			if sp.Source == "" {
				t.Errorf("kind %s: setpoint %+v has no source", k.ID, sp)
			}
			if !k.InRange(sp.Value) {
				t.Errorf("kind %s: setpoint %g outside range %g to %g", k.ID, sp.Value, k.Min, k.Max)
			}
			if sp.Level < LevelRed || sp.Level > LevelBlue {
				t.Errorf("kind %s: setpoint level %d", k.ID, sp.Level)
			}
		}
		// The defaults must pass the checks a registry file gets.
		l := newLoader(DefaultCatalog(), "catalog")
		l.setpoints(k.Setpoints, make([]int, len(k.Setpoints)))
		for _, p := range l.problems {
			t.Errorf("kind %s: %s", k.ID, p.Msg)
		}
	}
	if k, ok := DefaultCatalog().Kind("combustible_gas"); !ok || k.Unit != "%LEL" || k.Interval != 5*time.Second {
		t.Errorf("Kind(combustible_gas) = %+v, %v", k, ok)
	}
	if _, ok := DefaultCatalog().Kind("plutonium"); ok {
		t.Error("Kind(plutonium) found")
	}
}

func TestSetpointTripsClears(t *testing.T) {
	above := Setpoint{Level: LevelOrange, Direction: Above, Value: 25, Clear: 23}
	below := Setpoint{Level: LevelOrange, Direction: Below, Value: 19.5, Clear: 19.8}
	for _, tc := range []struct {
		name          string
		sp            Setpoint
		v             float64
		trips, clears bool
	}{
		{"above: well under", above, 10, false, true},
		{"above: between clear and value", above, 24, false, false},
		{"above: at clear stays", above, 23, false, false},
		{"above: at value trips", above, 25, true, false},
		{"above: over", above, 80, true, false},
		{"below: well over", below, 21, false, true},
		{"below: between value and clear", below, 19.6, false, false},
		{"below: at clear stays", below, 19.8, false, false},
		{"below: at value trips", below, 19.5, true, false},
		{"below: under", below, 15, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.sp.Trips(tc.v); got != tc.trips {
				t.Errorf("Trips(%g) = %v, want %v", tc.v, got, tc.trips)
			}
			if got := tc.sp.Clears(tc.v); got != tc.clears {
				t.Errorf("Clears(%g) = %v, want %v", tc.v, got, tc.clears)
			}
		})
	}
}

func TestKindResolve(t *testing.T) {
	k := &Kind{ID: "k", Unit: "u", Min: -10, Max: 100, Deadband: 2}
	for _, tc := range []struct {
		name string
		in   Setpoint
		want float64 // resolved Clear
	}{
		{"above takes the deadband below", Setpoint{Direction: Above, Value: 25}, 23},
		{"below takes the deadband above", Setpoint{Direction: Below, Value: 5}, 7},
		{"explicit clear is kept", Setpoint{Direction: Above, Value: 25, Clear: 20}, 20},
		{"coal restore equal to value is kept", Setpoint{Direction: Above, Value: 1, Clear: 1}, 1},
		{"zero value keeps zero clear", Setpoint{Direction: Above, Value: 0}, 0},
		{"negative value", Setpoint{Direction: Below, Value: -5}, -3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []Setpoint{tc.in}
			got := k.Resolve(in)
			if len(got) != 1 || got[0].Clear != tc.want {
				t.Fatalf("Resolve(%+v) = %+v, want clear %g", tc.in, got, tc.want)
			}
			if in[0] != tc.in {
				t.Errorf("Resolve changed its argument to %+v", in[0])
			}
		})
	}
	if got := k.Resolve(nil); len(got) != 0 {
		t.Errorf("Resolve(nil) = %v, want empty", got)
	}
}

func TestParseLevel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Level
		ok   bool
	}{
		{"1", LevelRed, true}, {"red", LevelRed, true}, {"critical", LevelRed, true},
		{"2", LevelOrange, true}, {"orange", LevelOrange, true}, {"major", LevelOrange, true},
		{"3", LevelYellow, true}, {"yellow", LevelYellow, true}, {"minor", LevelYellow, true},
		{"4", LevelBlue, true}, {"blue", LevelBlue, true}, {"warning", LevelBlue, true},
		{"0", LevelNone, false}, {"5", LevelNone, false}, {"", LevelNone, false},
		{"Red", LevelNone, false}, {"purple", LevelNone, false},
	} {
		got, err := ParseLevel(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		// Every level reads back from its number and its colour.
		if tc.ok {
			for _, s := range []string{strconv.Itoa(int(got)), got.Color()} {
				if back, err := ParseLevel(s); err != nil || back != got {
					t.Errorf("ParseLevel(%q) = %v, %v; want %v", s, back, err, got)
				}
			}
		}
	}
}

func TestParseQuality(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Quality
		ok   bool
	}{
		{"good", QualityGood, true},
		{"uncertain", QualityUncertain, true},
		{"bad", QualityBad, true},
		{"", QualityBad, false},
		{"Good", QualityBad, false},
		{"ok", QualityBad, false},
	} {
		got, err := ParseQuality(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseQuality(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
}

func TestParseSector(t *testing.T) {
	for _, s := range Sectors() {
		if got, err := ParseSector(string(s)); err != nil || got != s {
			t.Errorf("ParseSector(%q) = %q, %v", s, got, err)
		}
	}
	for _, in := range []string{"", "Coal", "chemicals", "hazchem "} {
		if got, err := ParseSector(in); err == nil {
			t.Errorf("ParseSector(%q) = %q, want an error", in, got)
		}
	}
}

func TestParseDirection(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Direction
		ok   bool
	}{
		{"", Above, true}, {"above", Above, true}, {"high", Above, true},
		{"below", Below, true}, {"low", Below, true},
		{"down", Above, false}, {"Above", Above, false},
	} {
		got, err := ParseDirection(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseDirection(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestSparkplugAddress: a sensor's Sparkplug address is read from YAML and
// CSV, found by LookupSparkplug, written back by WriteYAML, and two
// sensors at one address are refused with the line of each.
func TestSparkplugAddress(t *testing.T) {
	cat := DefaultCatalog()
	yml := `sites:
  - id: hz-01
    sector: hazchem
    sensors:
      - {id: GT-101, kind: combustible_gas, gateway: edge-1, sparkplug: skid-1/Gas/GT-101}
      - {id: GT-102, kind: combustible_gas, gateway: edge-1, sparkplug: skid-2/Gas/GT-101}
      - {id: LT-1, kind: tank_level, gateway: edge-1, sparkplug: /Tank1/Level}
`
	reg, err := LoadYAML(cat, "fleet.yaml", strings.NewReader(yml))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ device, metric, want string }{
		{"skid-1", "Gas/GT-101", "GT-101"}, {"skid-2", "Gas/GT-101", "GT-102"}, {"", "Tank1/Level", "LT-1"},
	} {
		s, ok := reg.LookupSparkplug("hz-01", c.device, c.metric)
		if !ok || s.ID != c.want {
			t.Errorf("LookupSparkplug(%q, %q) = %v %v, want %s", c.device, c.metric, s, ok, c.want)
		}
	}
	if _, ok := reg.LookupSparkplug("hz-01", "skid-3", "Gas/GT-101"); ok {
		t.Error("an address of no sensor was found")
	}
	var out strings.Builder
	if err := reg.WriteYAML(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "sparkplug: skid-2/Gas/GT-101") {
		t.Errorf("WriteYAML lost the Sparkplug address:\n%s", out.String())
	}

	csv := "site,sector,sensor,kind,gateway,sparkplug\nhz-01,hazchem,GT-101,combustible_gas,edge-1,skid-1/Gas/GT-101\n" +
		"hz-01,hazchem,GT-102,combustible_gas,edge-1,skid-1/Gas/GT-101\nhz-01,hazchem,GT-103,combustible_gas,edge-1,Gas-no-device\n"
	_, err = LoadCSV(cat, "fleet.csv", strings.NewReader(csv))
	var le *LoadError
	if !errors.As(err, &le) || len(le.Problems) != 2 {
		t.Fatalf("err = %v, want a collision and a bad address", err)
	}
	if p := le.Problems[0]; p.Line != 3 || !strings.Contains(p.Msg, "line 2") {
		t.Errorf("collision reported as %v, want line 3 naming line 2", p)
	}
	if p := le.Problems[1]; p.Line != 4 || !strings.Contains(p.Msg, "bad Sparkplug address") {
		t.Errorf("bad address reported as %v", p)
	}
	// Registries built in code are checked too.
	_, err = NewRegistry(cat, []Site{{ID: "s", Sector: SectorHazchem}}, []Sensor{
		{ID: "a", Site: "s", Kind: "combustible_gas", Sparkplug: "d/m"}, {ID: "b", Site: "s", Kind: "combustible_gas", Sparkplug: "d/m"}})
	if err == nil || !strings.Contains(err.Error(), "share the Sparkplug address") {
		t.Errorf("NewRegistry err = %v, want the shared address", err)
	}
}

// TestSplitSites checks which files are decoded site by site, and that
// each item starts at its line of the file.
func TestSplitSites(t *testing.T) {
	tests := []struct {
		name, file string
		lines      []int // first line of each item; nil: decoded whole
	}{
		{"as WriteYAML writes", "sites:\n  - id: a\n    sector: coal\n  - id: b\n    sector: coal\n", []int{2, 4}},
		{"items at the key's indent", "sites:\n- id: a\n  sector: coal\n- id: b\n", []int{2, 4}},
		{"comments and blank lines", "# fleet\n\nsites: # all of it\n  # first\n  - id: a\n\n# between\n  - id: b\n", []int{5, 8}},
		{"CRLF", "sites:\r\n  - id: a\r\n  - id: b\r\n", []int{2, 3}},
		{"block scalar and nested list", "sites:\n  - id: a\n    name: |\n      - not an item\n    sensors:\n    - id: x\n  - id: b\n", []int{2, 7}},
		{"dash alone", "sites:\n  -\n    id: a\n  - id: b\n", []int{2, 4}},
		{"flow list", "sites: [{id: a}]\n", nil},
		{"no sites", "sites:\n", nil},
		{"other key first", "version: 1\nsites:\n  - id: a\n", nil},
		{"other key after", "sites:\n  - id: a\nversion: 1\n", nil},
		{"second document", "sites:\n- id: a\n---\nsites:\n- id: b\n", nil},
		{"directive", "%YAML 1.2\n---\nsites:\n  - id: a\n", nil},
		{"indented key", "  sites:\n  - id: a\n", nil},
		{"key glued to a comment", "sites:#x\n  - id: a\n", nil},
		{"tab in the indent", "sites:\n  - id: a\n\t sector: coal\n", nil},
		{"line back at the items' indent", "sites:\n  - id: a\n  sector: coal\n", nil},
		{"line left of the items", "sites:\n  - id: a\n    name: \"x\n y\"\n", nil},
		{"items at two indents", "sites:\n  - id: a\n - id: b\n", nil},
		{"anchor on the list", "sites: &s\n  - id: a\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, ok := splitSites([]byte(tt.file))
			var got []int
			for _, it := range items {
				got = append(got, it.line)
			}
			if ok != (tt.lines != nil) || !slices.Equal(got, tt.lines) {
				t.Errorf("items at lines %v (%v), want %v", got, ok, tt.lines)
			}
			if !ok {
				return
			}
			// The items cover the file from the first on, in order.
			if first := items[0].start; !strings.HasSuffix(tt.file[:first], "\n") {
				t.Errorf("first item starts mid-line at %d", first)
			}
			for i := 1; i < len(items); i++ {
				if items[i].start != items[i-1].end {
					t.Errorf("item %d starts at %d, the one before ends at %d", i, items[i].start, items[i-1].end)
				}
			}
			if end := items[len(items)-1].end; end != len(tt.file) {
				t.Errorf("last item ends at %d of %d", end, len(tt.file))
			}
		})
	}
}

// TestLoadYAMLBySiteReadsAsWhole loads every YAML file of testdata and a
// written fleet site by site and whole, and wants the same registry or
// the same problems, with the lines of the file.
func TestLoadYAMLBySiteReadsAsWhole(t *testing.T) {
	cat := DefaultCatalog()
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string][]byte{}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		inputs[path] = b
	}
	reg, err := LoadFile(cat, "testdata/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var written bytes.Buffer
	if err := reg.WriteYAML(&written); err != nil {
		t.Fatal(err)
	}
	inputs["written"] = written.Bytes()
	// A problem in a site: reported at its line of the file, as when
	// decoded whole.
	bad := strings.Replace(written.String(), "kind: ", "kind: nonsense_", 1)
	inputs["written, one bad kind"] = []byte(bad)
	bySite := 0
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			got, err := LoadYAML(cat, "f.yaml", bytes.NewReader(data))
			want, werr := loadYAMLWhole(cat, "f.yaml", data)
			switch {
			case (err == nil) != (werr == nil):
				t.Fatalf("LoadYAML: %v; whole: %v", err, werr)
			case err != nil:
				if err.Error() != werr.Error() {
					t.Errorf("LoadYAML:\n%v\nwhole:\n%v", err, werr)
				}
			default:
				if d := sameRegistry(got, want); d != "" {
					t.Error(d)
				}
			}
			if _, ok := loadYAMLBySite(cat, "f.yaml", data); ok {
				bySite++
			}
		})
	}
	// The written fleet and the valid block-style files take the site by
	// site path; without that the comparison above proves nothing.
	if _, ok := loadYAMLBySite(cat, "f.yaml", written.Bytes()); !ok {
		t.Error("a written fleet is not loaded site by site")
	}
	if bySite < 2 {
		t.Errorf("%d inputs loaded site by site, want the written fleet and testdata/fleet.yaml at least", bySite)
	}
}
