package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/console"
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
	rules, err := engineRules(load(filepath.Join(root, "deploy/examples/rules.yaml")), reg)
	if err != nil {
		t.Fatal(err)
	}
	if g := rules.guidance["gas_no_air"]; !strings.Contains(g.Procedure.ZH, "撤出") || g.Procedure.EN == "" || g.Consequence.ZH == "" || g.Consequence.EN == "" {
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

// TestServiceExplainsRules: the console's sensor page reads the rules the
// running service evaluates a sensor by, with the rule file's settings
// and where they came from, the same explanation rules show prints; a
// reload that changes the rule file changes it.
func TestServiceExplainsRules(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	writeRules := func(forCH4 string) {
		t.Helper()
		if err := os.WriteFile(rules, []byte("kinds:\n  ch4:\n    for: "+forCH4+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeRules("10s")
	cfgFile := filepath.Join(dir, "riskmon.yaml")
	if err := os.WriteFile(cfgFile, []byte("registry: "+filepath.Join(root, "deploy/examples/fleet.yaml")+
		"\nstate_dir: "+dir+"\nalerting:\n  notify: {mqtt: false, log: false}\n  rules: ["+rules+"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func() (config.Config, *sensors.Registry, error) {
		cfg, err := config.Load(cfgFile)
		if err != nil {
			return cfg, nil, err
		}
		reg, err := sensors.LoadFile(sensors.DefaultCatalog(), cfg.Registry)
		return cfg, reg, err
	}
	cfg, reg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	svc.SetReloadSource(load)
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()

	onDelay := func() (string, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/api/v1/sites/coal-01/sensors/CH4-101/rules")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got console.SensorRules
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, %v", resp.StatusCode, err)
		}
		for _, r := range got.Rules {
			if r.Name == "ch4_high" {
				return r.OnDelay, r.Layer
			}
		}
		t.Fatalf("no ch4_high among %+v", got.Rules)
		return "", ""
	}
	if d, layer := onDelay(); d != "10s" || !strings.Contains(layer, "rules.yaml") {
		t.Errorf("ch4_high on-delay %q from %q, want the rule file's 10s", d, layer)
	}
	writeRules("20s")
	if _, err := svc.Reload(context.Background(), "test", ""); err != nil {
		t.Fatal(err)
	}
	if d, _ := onDelay(); d != "20s" {
		t.Errorf("after the reload ch4_high's on-delay is %q, want 20s", d)
	}
	if _, ok := svc.Explain("coal-01", "no-such-sensor"); ok {
		t.Error("an unknown sensor was explained")
	}
}
