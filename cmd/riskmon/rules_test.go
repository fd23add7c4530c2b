package main

import (
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// TestRulesShow prints a sensor's rules after the rule file layers: the
// sample gives CH4-102 its own blue 1h forecast and the ch4 kind's
// on-delay and M-of-N, and puts it in a group; CH4-101 is in the
// composite rule as well and keeps the default forecast.
func TestRulesShow(t *testing.T) {
	show := func(sensor string) string {
		out, err := run(t, "rules", "show", "--config", "testdata/checkconfig/good.yaml", "--site", "coal-01", "--sensor", sensor)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return out
	}
	out := show("CH4-102")
	for _, want := range []string{"threshold: for 10s", "2 of 3 readings", "Horizon:1h0m0s", "Level:4-blue", "group face-3102"} {
		if !strings.Contains(out, want) {
			t.Errorf("CH4-102 lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "composite") {
		t.Errorf("CH4-102 is not in a composite rule:\n%s", out)
	}
	out = show("CH4-101")
	if !strings.Contains(out, "composite gas_no_air") || strings.Contains(out, "Horizon:1h0m0s") {
		t.Errorf("CH4-101:\n%s", out)
	}
	// Every rule shows the level it fires at: the default forecast is
	// yellow, and a silent methane sensor is yellow too (fault lockout).
	if strings.Contains(out, "Level:none") || !strings.Contains(out, "forecast: {Window:2m0s") ||
		!strings.Contains(out, "Level:3-yellow}") || !strings.Contains(out, "stale: {Factor:3 Level:3-yellow}") {
		t.Errorf("CH4-101 rule levels:\n%s", out)
	}
	if _, err := run(t, "rules", "show", "--config", "testdata/checkconfig/good.yaml", "--site", "coal-01", "--sensor", "CH4-999"); err == nil {
		t.Error("an unknown sensor was shown")
	}
}

// TestWriteRulesSiteAndSensorTiming: the timing shown is the one the
// engine uses, with what a rule file sets for a site kind or a sensor
// over the kind's.
func TestWriteRulesSiteAndSensorTiming(t *testing.T) {
	reg, err := sensors.LoadFile(sensors.DefaultCatalog(), "../../deploy/examples/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sn, ok := reg.Lookup("coal-01", "CH4-102")
	if !ok {
		t.Fatal("no coal-01/CH4-102 in the example fleet")
	}
	opts := alerting.Options{
		KindFor:      map[sensors.KindID]time.Duration{"ch4": 10 * time.Second},
		KindOffDelay: map[sensors.KindID]time.Duration{"ch4": time.Minute},
		KindMOfN:     map[sensors.KindID]alerting.MOfN{"ch4": {M: 2, N: 3}},
		Threshold: func(s *sensors.Sensor, t *alerting.ThresholdTiming) {
			if s.Site == "coal-01" && s.ID == "CH4-102" {
				t.For, t.OffDelay, t.MOfN = 20*time.Second, 5*time.Second, alerting.MOfN{}
			}
		},
	}
	var b strings.Builder
	writeRules(&b, sn, opts)
	if !strings.Contains(b.String(), "threshold: for 20s, off_delay 5s\n") {
		t.Errorf("timing not the sensor's own:\n%s", b.String())
	}
}
