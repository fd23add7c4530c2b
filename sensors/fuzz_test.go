package sensors

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// addSeeds adds every testdata file matching the patterns to the corpus.
func addSeeds(f *testing.F, patterns ...string) {
	f.Helper()
	for _, pattern := range patterns {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, path := range files {
			b, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// checkLoad is the property both fuzz targets share: a loader returns
// either a registry or a *LoadError, never both and never anything else;
// and a registry it returns writes out to YAML that loads back the same.
func checkLoad(t *testing.T, cat *Catalog, reg *Registry, err error) {
	t.Helper()
	if err != nil {
		var le *LoadError
		if !errors.As(err, &le) {
			t.Fatalf("error %v is a %T, want a *LoadError", err, err)
		}
		if reg != nil {
			t.Fatalf("a registry along with error %v", err)
		}
		if len(le.Problems) == 0 {
			t.Fatal("a *LoadError without problems")
		}
		return
	}
	if reg == nil {
		t.Fatal("neither a registry nor an error")
	}
	var out bytes.Buffer
	if err := reg.WriteYAML(&out); err != nil {
		t.Fatalf("WriteYAML: %v", err)
	}
	back, err := LoadYAML(cat, "written.yaml", bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatalf("written registry does not load: %v\n%s", err, out.Bytes())
	}
	if d := sameRegistry(reg, back); d != "" {
		t.Fatalf("round trip: %s\n%s", d, out.Bytes())
	}
}

func FuzzLoadYAML(f *testing.F) {
	addSeeds(f, "testdata/*.yaml")
	f.Add([]byte("sites:\n  - &s {id: a, sector: coal, sensors: [&x {id: b, kind: ch4, gateway: g}, *x]}\n  - *s\n"))
	f.Add([]byte("sites: &a [*a]\n"))
	f.Add([]byte("sites:\n- id: a\n  sector: coal\n  name: \"x\n- id: b\"\n"))
	f.Add([]byte("# fleet\nsites: # all\n  - id: a\n    sector: coal\n    guidance: {ch4: {procedure: {en: |\n  - x}}}\n  - id: b\n    sector: coal\n"))
	// Bad UTF-8 where only the whole decoding reads: the header and a
	// comment between sites.
	f.Add([]byte("# \xff\nsites:\n- id: a\n  sector: coal\n"))
	f.Add([]byte("sites: # \xff\n- id: a\n  sector: coal\n"))
	f.Add([]byte("# \x01\nsites:\n- id: a\n  sector: coal\n"))
	f.Add([]byte("sites:\n- id: a\n  sector: coal\n  # \u2028\n- id: b\n  sector: coal\n"))
	cat := DefaultCatalog()
	f.Fuzz(func(t *testing.T, data []byte) {
		reg, err := LoadYAML(cat, "fuzz.yaml", bytes.NewReader(data))
		checkLoad(t, cat, reg, err)
		// Site by site or whole, a file reads the same.
		whole, werr := loadYAMLWhole(cat, "fuzz.yaml", data)
		switch {
		case (err == nil) != (werr == nil):
			t.Fatalf("loaded site by site: %v; whole: %v", err, werr)
		case err != nil && err.Error() != werr.Error():
			t.Fatalf("problems site by site:\n%v\nwhole:\n%v", err, werr)
		case err == nil:
			if d := sameRegistry(reg, whole); d != "" {
				t.Fatalf("site by site and whole differ: %s", d)
			}
		}
	})
}

func FuzzLoadCSV(f *testing.F) {
	addSeeds(f, "testdata/*.csv")
	cat := DefaultCatalog()
	f.Fuzz(func(t *testing.T, data []byte) {
		reg, err := LoadCSV(cat, "fuzz.csv", bytes.NewReader(data))
		checkLoad(t, cat, reg, err)
	})
}

// FuzzWriteYAML feeds free text the loaders accept through WriteYAML and
// back, which the two loader targets rarely reach with valid files.
func FuzzWriteYAML(f *testing.F) {
	f.Add("Tank farm 1", "tank T-1 north", "T1", "GB/T 50493-2019 §5.5.2 [Q]", 25.0)
	f.Add(" a: b ", "#x", "~", "'quoted' \"double\"", math.Copysign(0, -1))
	f.Add("储罐区 1", "yes", "null", "- item", 1e-300)
	f.Add("\u2028", "\ufeff", "a\u0085b", "%LEL", 0.1)
	cat := DefaultCatalog()
	f.Fuzz(func(t *testing.T, name, location, role, source string, value float64) {
		l := newLoader(cat, "fuzz")
		for _, s := range []string{name, location, role, source} {
			if !utf8.ValidString(s) {
				return
			}
			l.text(0, "text", s)
		}
		k, _ := cat.Kind("dam_displacement")
		if len(l.problems) > 0 || !k.InRange(value) || !k.InRange(value-k.Deadband) {
			return // the loaders refuse these, so they need not round-trip
		}
		reg, err := NewRegistry(cat,
			[]Site{{ID: "s", Name: name, Sector: SectorHazchem}},
			[]Sensor{{ID: "x", Site: "s", Kind: "dam_displacement", Gateway: "g", Location: location, Role: role,
				Setpoints: []Setpoint{{Level: LevelRed, Value: value, Source: source}}}})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := reg.WriteYAML(&out); err != nil {
			t.Fatalf("WriteYAML: %v", err)
		}
		back, err := LoadYAML(cat, "written.yaml", bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("written registry does not load: %v\n%s", err, out.Bytes())
		}
		if d := sameRegistry(reg, back); d != "" {
			t.Fatalf("round trip: %s\n%s", d, out.Bytes())
		}
	})
}
