package app

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
)

// TestEngineOptionsReadRuleFiles: the engine options the service,
// replay and check-config share take the configuration's keys and the
// rule files it names; a bad rule file fails with its line.
func TestEngineOptionsReadRuleFiles(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	reg, err := sensors.LoadFile(sensors.DefaultCatalog(), filepath.Join(root, "deploy/examples/fleet.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	load := func(rules string) config.Config {
		t.Helper()
		cfg, err := config.Load(write("riskmon.yaml", "registry: "+filepath.Join(root, "deploy/examples/fleet.yaml")+
			"\nalerting:\n  for: 3s\n  kind_for: {co_mine: 7s}\n  rules: ["+rules+"]\n"))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	opts, err := EngineOptions(load(filepath.Join(root, "deploy/examples/rules.yaml")), reg)
	if err != nil {
		t.Fatal(err)
	}
	if opts.For != 3*time.Second || opts.KindFor["co_mine"] != 7*time.Second || opts.KindFor["ch4"] != 10*time.Second {
		t.Errorf("For %s KindFor %v: want the configuration's 3s and co_mine 7s, and the rule file's ch4 10s", opts.For, opts.KindFor)
	}
	if len(opts.Groups) != 2 || len(opts.Composite) != 1 {
		t.Errorf("%d groups and %d composite rules, want the sample's 2 and 1", len(opts.Groups), len(opts.Composite))
	}

	// The rule file's response texts per rule come with the options, for
	// the console and the notifiers.
	_, guidance, err := engineRules(load(filepath.Join(root, "deploy/examples/rules.yaml")), reg)
	if err != nil {
		t.Fatal(err)
	}
	if g := guidance["gas_no_air"]; !strings.Contains(g.Procedure.ZH, "撤出") || g.Procedure.EN == "" || g.Consequence.ZH == "" || g.Consequence.EN == "" {
		t.Errorf("gas_no_air guidance %+v, want the sample's procedure and consequence in both languages", g)
	}

	write("bad.yaml", "kinds:\n  ch4: {for: soon}\n")
	_, err = EngineOptions(load("bad.yaml"), reg)
	var le *sensors.LoadError
	if !errors.As(err, &le) || len(le.Problems) != 1 || le.Problems[0].Line != 2 || !strings.Contains(le.Problems[0].Msg, `"soon" is not a duration`) {
		t.Errorf("err %v, want the bad duration at line 2", err)
	}
	if _, err := EngineOptions(load("none/*.yaml"), reg); err == nil || !strings.Contains(err.Error(), "matches no file") {
		t.Errorf("err %v, want a pattern that matches no file refused", err)
	}
}

// A per-kind delay for a kind the catalog lacks is a typo that would leave
// the real kind on the default delay: refused with the key named.
func TestEngineOptionsUnknownKind(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw1"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*config.Config)
		want string
	}{
		{"known kinds", func(c *config.Config) {
			c.Alerting.KindFor = map[string]time.Duration{"ch4": time.Second}
			c.Alerting.KindOffDelay = map[string]time.Duration{"co": time.Minute}
		}, ""},
		{"kind_for typo", func(c *config.Config) { c.Alerting.KindFor = map[string]time.Duration{"methane": time.Second} }, `alerting.kind_for: unknown sensor kind "methane"`},
		{"kind_off_delay typo", func(c *config.Config) { c.Alerting.KindOffDelay = map[string]time.Duration{"h2": time.Second} }, `alerting.kind_off_delay: unknown sensor kind "h2"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			tt.edit(&cfg)
			_, err := EngineOptions(cfg, reg)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
