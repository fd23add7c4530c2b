package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestSimScoreEvents(t *testing.T) {
	tests := []struct {
		name    string
		events  string
		wantErr bool
		want    []string
	}{
		{"detected", "testdata/events-detected.json", false, []string{"detected", "2-orange", "1-red", "met", "false alerts: 1"}},
		{"late", "testdata/events-late.json", true, []string{"MISSED: lead -30s, want ≥ -10s"}},
		{"none", "testdata/events-none.json", true, []string{"missed", "MISSED: not detected"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, "sim", "score", "--truth", "testdata/truth.jsonl", "--events", tt.events)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v\n%s", err, tt.wantErr, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestSimRunRejectsBadScenario(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: x\nduration: 1m\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "sim", "run", "--scenario", bad, "--broker", "tcp://127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("err = %v, want one naming line 3\n%s", err, out)
	}
}

// TestSimScoreBench: sim score --bench runs the synthetic library through
// the default rules in process and prints a row per seed with detection,
// lead, ETA error and false alerts per 1,000 sensor-hours.
func TestSimScoreBench(t *testing.T) {
	out, err := run(t, "sim", "score", "--bench", "1,2", "--sensor-hours", "50")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"SEED", "DETECTED", "LEAD EXP RAMP", "ETA ERROR", "FALSE/1000 H", "\n1 ", "\n2 ", "\nall ", "误报"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "  0/") || strings.Contains(out, "NaN") || !strings.Contains(out, "80/80") {
		t.Errorf("an incident undetected or a figure missing:\n%s", out)
	}
	for _, want := range []string{"LEAD BY KIND", "τ = 0.33 of the rise", "ch4 ", "oxygen ", "按类型的提前量"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestSimScoreBenchCurve: --curve changes the accelerating ramps' bend;
// a gentler one is seen earlier.
func TestSimScoreBenchCurve(t *testing.T) {
	lead := func(curve string) int {
		out, err := run(t, "sim", "score", "--bench", "1", "--sensor-hours", "50", "--curve", curve)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !strings.Contains(out, "τ = "+curve+" of the rise") {
			t.Errorf("--curve %s not reported:\n%s", curve, out)
		}
		for _, line := range strings.Split(out, "\n") {
			// "1  40/40  95 s, 72 %  52 s, 43 %  ...": the accelerating
			// ramps' share is the ninth field.
			if f := strings.Fields(line); len(f) > 8 && f[0] == "1" {
				n, err := strconv.Atoi(f[8])
				if err != nil {
					t.Fatalf("row %q: %v", line, err)
				}
				return n
			}
		}
		t.Fatalf("no row for seed 1:\n%s", out)
		return 0
	}
	sharp, gentle := lead("0.25"), lead("0.50")
	if sharp >= gentle {
		t.Errorf("accelerating-ramp lead %d %% with τ a quarter of the rise, %d %% with half: want the gentler bend seen earlier", sharp, gentle)
	}
}
