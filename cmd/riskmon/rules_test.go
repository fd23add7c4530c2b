package main

import (
	"strings"
	"testing"
)

// TestRulesShow prints a sensor's rules after the rule file layers: the
// sample gives CH4-102 its own blue 1h forecast and the ch4 kind's
// on-delay and M-of-N, and puts it in a group; CH4-101 is in the
// composite rule as well and keeps the default forecast.
func TestRulesShow(t *testing.T) {
	show := func(sensor string) string {
		out, err := run(t, "rules", "show", "--config", checkDir+"good.yaml", "--site", "coal-01", "--sensor", sensor)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return out
	}
	out := show("CH4-102")
	for _, want := range []string{"threshold ch4_high: level 2-orange then 1-red, for 10s, off_delay 0s, 2 of 3 readings [../../deploy/examples/rules.yaml:14 (kind ch4)]",
		"forecast ch4_forecast: level 4-blue, window 2m0s, horizon 1h0m0s", "(sensor coal-01/CH4-102)]", "group face-3102: sensors CH4-101, CH4-102"} {
		if !strings.Contains(out, want) {
			t.Errorf("CH4-102 lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "composite") {
		t.Errorf("CH4-102 is not in a composite rule:\n%s", out)
	}
	out = show("CH4-101")
	if !strings.Contains(out, "composite gas_no_air: level 2-orange") || strings.Contains(out, "horizon 1h0m0s") {
		t.Errorf("CH4-101:\n%s", out)
	}
	// Every rule shows the level it fires at: the default forecast is
	// yellow, and a silent methane sensor is yellow too (fault lockout).
	if strings.Contains(out, "none") || !strings.Contains(out, "forecast ch4_forecast: level 3-yellow, window 2m0s, horizon 10m0s") ||
		!strings.Contains(out, "stale sensor_stale: level 3-yellow, factor 3") || !strings.Contains(out, "rate ch4_rate: off") {
		t.Errorf("CH4-101 rule levels:\n%s", out)
	}
	if _, err := run(t, "rules", "show", "--config", checkDir+"good.yaml", "--site", "coal-01", "--sensor", "CH4-999"); err == nil {
		t.Error("an unknown sensor was shown")
	}
}
