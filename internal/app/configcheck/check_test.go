package configcheck

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/riskmon/riskmon/sensors/yamlpos"
)

// TestCheckReportsEverything: every part of a configuration is checked
// in one run, and each problem names its file and line, and the column
// of the key where the problem is about one.
func TestCheckReportsEverything(t *testing.T) {
	const dir = "testdata/"
	tests := []struct {
		config string
		want   []string // "file:line[:column]: text" prefixes, in the order found
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
		{"missing.yaml", []string{"open " + dir + "missing.yaml: no such file"}},
	}
	for _, tc := range tests {
		t.Run(tc.config, func(t *testing.T) {
			r := Check(dir + tc.config)
			if r.OK() {
				t.Fatalf("%s passed", tc.config)
			}
			if len(r.Problems) != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%s", len(r.Problems), len(tc.want), list(r.Problems))
			}
			for i, w := range tc.want {
				if i >= len(r.Problems) || !strings.HasPrefix(r.Problems[i].String(), w) {
					t.Errorf("problem %d: want prefix %q\n%s", i, w, list(r.Problems))
				}
			}
		})
	}
}

func list(ps []yamlpos.Problem) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintln(&b, p)
	}
	return b.String()
}

// TestCheckGood: what loaded is in the report, and nothing is wrong.
func TestCheckGood(t *testing.T) {
	tests := []struct {
		config    string
		ruleFiles int
		warnings  []string // "file:line:column: text", in order
	}{
		{"good.yaml", 2, nil},
		// A listener reachable from the network without TLS and without
		// accounts is warned about, at its line, without failing the
		// check; on loopback (good.yaml) nothing is said.
		{"open_listener.yaml", 1, []string{
			"testdata/open_listener.yaml:3:3: http.listen 0.0.0.0:9464 is reachable from the network without TLS",
			"testdata/open_listener.yaml:3:3: http.listen 0.0.0.0:9464 is reachable from the network with no account",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.config, func(t *testing.T) {
			r := Check("testdata/" + tc.config)
			if !r.OK() {
				t.Fatalf("problems:\n%s", list(r.Problems))
			}
			if r.Registry == nil || len(r.Registry.Sites()) != 5 || r.Registry.Len() != 40 {
				t.Fatalf("registry not loaded whole: %v", r.Registry)
			}
			if r.RuleFiles != tc.ruleFiles || r.Notifiers != 0 {
				t.Errorf("%d rule files, %d notifiers; want %d, 0", r.RuleFiles, r.Notifiers, tc.ruleFiles)
			}
			if len(r.Warnings) != len(tc.warnings) {
				t.Errorf("%d warnings, want %d:\n%s", len(r.Warnings), len(tc.warnings), list(r.Warnings))
			}
			for i, w := range tc.warnings {
				if i >= len(r.Warnings) || !strings.HasPrefix(r.Warnings[i].String(), w) {
					t.Errorf("warning %d: want prefix %q\n%s", i, w, list(r.Warnings))
				}
			}
		})
	}
}

// TestExplain: a checked configuration explains a sensor's effective
// rules, with the rule files applied, and refuses a sensor it lacks.
func TestExplain(t *testing.T) {
	r := Check("testdata/good.yaml")
	tests := []struct {
		site, sensor string
		want         string // in the text, or the error
		wantErr      bool
	}{
		{"coal-01", "CH4-102", "forecast ch4_forecast: level 4-blue, window 2m0s, horizon 1h0m0s", false},
		{"coal-01", "CH4-999", "no sensor coal-01/CH4-999", true},
		{"nowhere", "CH4-102", "no sensor nowhere/CH4-102", true},
	}
	for _, tc := range tests {
		t.Run(tc.site+"/"+tc.sensor, func(t *testing.T) {
			x, err := r.Explain(tc.site, tc.sensor)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want one with %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := x.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tc.want) {
				t.Errorf("explanation lacks %q:\n%s", tc.want, b.String())
			}
		})
	}
	if _, err := Check("testdata/bad_registry.yaml").Explain("hz-01", "GT-1"); err == nil {
		t.Error("explained a sensor without a registry")
	}
}

func TestLoadProblems(t *testing.T) {
	at := yamlpos.Problem{File: "f.yaml", Line: 3, Msg: "bad"}
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"load error: its own problems", fmt.Errorf("wrapped: %w", &yamlpos.LoadError{Problems: []yamlpos.Problem{at, {Msg: "other"}}}), []string{"f.yaml:3: bad", "other"}},
		{"one problem", fmt.Errorf("wrapped: %w", at), []string{"f.yaml:3: bad"}},
		{"plain error: under what", errors.New("boom"), []string{"rules: boom"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := loadProblems("rules", tc.err)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i, w := range tc.want {
				if got[i].String() != w {
					t.Errorf("problem %d = %q, want %q", i, got[i], w)
				}
			}
		})
	}
}
