package simulator

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// addFiles seeds a fuzz target with the files matching the patterns.
func addFiles(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		files, _ := filepath.Glob(p)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// FuzzParseScenario: any input gives a scenario or an error, never a
// panic, and a scenario it accepts has a ground truth.
func FuzzParseScenario(f *testing.F) {
	addFiles(f, "scenarios/*.yaml", "testdata/*.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := ParseScenario("fuzz.yaml", bytes.NewReader(data))
		if err != nil {
			return
		}
		if sc.Duration > 24*time.Hour || len(sc.Fleet.Sensors) > 2000 {
			return // valid, but too big to compute the truth of here
		}
		if _, err := sc.Truth(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
			t.Fatalf("accepted scenario without a truth: %v", err)
		}
	})
}

// FuzzParseFleet: any input gives a fleet that makes a registry, or an
// error, never a panic.
func FuzzParseFleet(f *testing.F) {
	addFiles(f, "fleets/*.yaml", "testdata/fleets/*.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := ParseFleet("fuzz.yaml", bytes.NewReader(data))
		if err != nil || len(fl.Sensors) > 5000 {
			return
		}
		if _, err := fl.Registry(sensors.DefaultCatalog()); err != nil {
			t.Fatalf("accepted fleet without a registry: %v", err)
		}
	})
}
