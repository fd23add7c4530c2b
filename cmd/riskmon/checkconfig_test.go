package main

import (
	"strings"
	"testing"
)

// TestCheckConfigReportsEverything: every part of a configuration is
// checked in one run, and each problem names its file and line, and the
// column of the key where the problem is about one.
func TestCheckConfigReportsEverything(t *testing.T) {
	const dir = "testdata/checkconfig/"
	tests := []struct {
		config string
		want   []string // "file:line[:column]: text" prefixes, in the order printed
	}{
		{"bad.yaml", []string{
			dir + "bad.yaml:5:3: mqtt.broker is empty",
			dir + "bad.yaml:8:7: http.tokens[0] (ci): role \"boss\"",
			dir + "bad.yaml:14:9: alerting.notify.dingtalk[1]: ",
			dir + "rules/site.yaml:3: trend: window not set",
			dir + "rules/site.yaml:7: site coal-01 has no sensor CH4-999",
			dir + "rules/site.yaml:9: composite rule coal-01/gas_no_air: expression \"CH4_101 >= 1.0 && WS_109 < 0.25\": unknown name WS_109",
		}},
		{"unknown_key.yaml", []string{
			dir + "unknown_key.yaml:3: field fro not found",
			dir + "unknown_key.yaml:5: field workres not found",
		}},
		{"bad_registry.yaml", []string{
			dir + "fleet.bad.yaml:5: unknown kind \"combustible_gaz\"",
			dir + "bad_registry.yaml:3:11: alerting.rules[0] \"missing/*.yaml\" matches no file",
		}},
		// A registry that does not load still leaves the rule files to read.
		{"bad_registry_rules.yaml", []string{
			dir + "fleet.bad.yaml:5: unknown kind \"combustible_gaz\"",
			dir + "rules_typo/typo.yaml:2: kind ch4: unknown key \"fro\"",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.config, func(t *testing.T) {
			out, err := run(t, "check-config", "--config", dir+tc.config)
			if err == nil {
				t.Fatalf("check-config accepted %s:\n%s", tc.config, out)
			}
			var lines []string
			for _, l := range strings.Split(out, "\n") {
				// Continuation lines of a message (expr's caret display)
				// start with a space.
				if l != "" && !strings.HasPrefix(l, " ") {
					lines = append(lines, l)
				}
			}
			if len(lines) != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%s", len(lines), len(tc.want), out)
			}
			for i, w := range tc.want {
				if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d: want prefix %q\n%s", i, w, out)
				}
			}
			if !strings.Contains(err.Error(), "problem") {
				t.Errorf("error %q does not count the problems", err)
			}
		})
	}
}

func TestCheckConfigAcceptsRuleFiles(t *testing.T) {
	out, err := run(t, "check-config", "--config", "testdata/checkconfig/good.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "ok (5 sites, 40 sensors, 2 rule files") {
		t.Errorf("output: %s", out)
	}
}

// TestCheckConfigWarnsOpenListener: a listener reachable from the network
// without TLS and without accounts is warned about, at its line, without
// failing the check; on loopback nothing is said.
func TestCheckConfigWarnsOpenListener(t *testing.T) {
	const file = "testdata/checkconfig/open_listener.yaml"
	out, err := run(t, "check-config", "--config", file)
	if err != nil {
		t.Fatalf("warnings failed the check: %v\n%s", err, out)
	}
	for _, want := range []string{file + ":3:3: warning: http.listen 0.0.0.0:9464 is reachable from the network without TLS",
		file + ":3:3: warning: http.listen 0.0.0.0:9464 is reachable from the network with no account"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	out, err = run(t, "check-config", "--config", "testdata/checkconfig/good.yaml")
	if err != nil || strings.Contains(out, "warning") {
		t.Fatalf("loopback listener: %v\n%s", err, out)
	}
}

// TestCheckConfigExplains: with --explain a passing check prints the
// sensor's effective rules, and an unknown sensor fails.
func TestCheckConfigExplains(t *testing.T) {
	out, err := run(t, "check-config", "--config", "testdata/checkconfig/good.yaml", "--explain", "coal-01/CH4-102")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "forecast ch4_forecast: level 4-blue, window 2m0s, horizon 1h0m0s") {
		t.Errorf("no explanation:\n%s", out)
	}
	if _, err := run(t, "check-config", "--config", "testdata/checkconfig/good.yaml", "--explain", "coal-01/CH4-999"); err == nil {
		t.Error("an unknown sensor was explained")
	}
}
