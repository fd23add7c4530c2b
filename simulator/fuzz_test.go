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

// FuzzReadTruth: any ground-truth file is read or refused with an error,
// and what is read can be scored, never a panic.
func FuzzReadTruth(f *testing.F) {
	f.Add([]byte(`{"type":"run","scenario":"s","seed":1,"start":"2026-11-28T16:00:00Z","duration":600000000000,"sensors":3}` + "\n"))
	f.Add([]byte(`{"type":"incident","id":"i","kind":"gas_leak"}` + "\n"))
	f.Add([]byte("{\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		truth, err := ReadTruth(bytes.NewReader(data))
		if err != nil {
			return
		}
		_ = ScoreRun(truth, nil, ScoreOptions{})
	})
}

// FuzzReadAlertEvents: any events file is read or refused, never a panic.
func FuzzReadAlertEvents(f *testing.F) {
	f.Add([]byte(`[{"alert_id":"a","rule":"ch4_high","site":"s","sensor":"x","type":"fired","level":2,"at":"2026-11-28T16:00:00Z"}]`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ReadAlertEvents(bytes.NewReader(data))
	})
}
