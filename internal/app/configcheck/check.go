package configcheck

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/rulefile"
	"github.com/riskmon/riskmon/internal/app"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/sensors/yamlpos"
)

// Report is what Check found: the problems, the warnings (allowed but
// risky; they do not fail the check) and what loaded.
type Report struct {
	Problems  []yamlpos.Problem
	Warnings  []yamlpos.Problem
	Config    config.Config
	Registry  *sensors.Registry // nil when it did not load
	Options   alerting.Options  // the engine's, once the rule files apply
	RuleFiles int
	Notifiers int // channels besides log and mqtt

	layers alerting.Layers // the rule files', once they apply
}

// Explain is the rules the checked configuration gives a sensor, each
// with the rule file layer it came from.
func (r *Report) Explain(site, sensor string) (alerting.Explanation, error) {
	if r.Registry == nil {
		return alerting.Explanation{}, errors.New("no registry loaded")
	}
	sn, ok := r.Registry.Lookup(site, sensor)
	if !ok {
		return alerting.Explanation{}, fmt.Errorf("no sensor %s/%s in the registry", site, sensor)
	}
	return alerting.Explain(r.Registry, sn, r.Options, r.layers), nil
}

// OK reports whether nothing is wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Check loads the configuration at path, its registry and rule files,
// and builds the notifiers and the engine without connecting anything,
// collecting every problem it can find in one pass. A problem that stops
// a later step (no registry, no rules to check) does not stop the
// others.
func Check(path string) *Report {
	r := &Report{}
	data, err := os.ReadFile(path)
	if err != nil {
		r.Problems = append(r.Problems, yamlpos.Problem{Msg: err.Error()})
		return r
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		r.Problems = append(r.Problems, yamlpos.DecodeProblems(path, err)...)
		return r
	}
	if _, err := config.Parse(data); err != nil {
		r.Problems = append(r.Problems, yamlpos.DecodeProblems(path, err)...)
		return r
	}
	// Parse passed, so Load's only error is Validate's, which Check
	// lists one key each.
	cfg, _ := config.Load(path)
	r.Config = cfg
	r.Problems, r.Warnings = cfg.Check()
	r.checkSecrets()
	if cfg.Registry != "" {
		reg, err := sensors.LoadFile(sensors.DefaultCatalog(), cfg.Path(cfg.Registry))
		if err != nil {
			r.Problems = append(r.Problems, loadProblems("registry", err)...)
		}
		r.Registry = reg
	}
	r.checkNotifiers()
	r.checkRules()
	return r
}

// checkSecrets reads the files the configuration names for passwords,
// tokens and certificates.
func (r *Report) checkSecrets() {
	cfg := &r.Config
	for _, c := range []struct {
		key string
		err func() error
	}{
		// The secrets' errors do not name their key; the others are
		// problems at theirs.
		{"mqtt.password_file", func() error { _, err := cfg.MQTTPassword(); return err }},
		{"influxdb.token_file", func() error { _, err := cfg.InfluxToken(); return err }},
		{"mqtt.tls", func() error { _, err := cfg.TLSConfig(); return err }},
		{"http.tokens", func() error { _, err := cfg.APITokens(); return err }},
	} {
		err := c.err()
		if err == nil {
			continue
		}
		if p := (yamlpos.Problem{}); errors.As(err, &p) {
			r.Problems = append(r.Problems, p)
			continue
		}
		r.Problems = append(r.Problems, cfg.Problem(c.key, c.key+": "+err.Error()))
	}
}

// checkNotifiers builds each notification channel on its own.
func (r *Report) checkNotifiers() {
	// Keys Validate already refused: a channel that fails to build for
	// the same reason (a webhook's url) is said once.
	var refused []string
	for _, p := range r.Problems {
		refused = append(refused, p.Key)
	}
	for _, err := range app.CheckNotifiers(r.Config, r.Registry) {
		var p yamlpos.Problem
		if !errors.As(err, &p) {
			p = yamlpos.Problem{Msg: err.Error()}
		}
		if p.Key != "" && slices.ContainsFunc(refused, func(v string) bool { return strings.HasPrefix(v, p.Key) }) {
			continue
		}
		r.Problems = append(r.Problems, r.Config.Problem(p.Key, p.Msg))
	}
	n := r.Config.Alerting.Notify
	r.Notifiers = len(n.Webhooks) + len(n.SignedWebhooks) + len(n.Alertmanagers) + len(n.DingTalk) + len(n.WeCom) + len(n.Feishu)
}

// checkRules reads the rule files and builds the engine from them.
func (r *Report) checkRules() {
	files, err := r.Config.RuleFiles()
	if err != nil {
		r.Problems = append(r.Problems, loadProblems("rules", err)...)
		return
	}
	r.RuleFiles = len(files)
	if r.Registry == nil {
		// Without a registry the rule files can still be read; what they
		// name is checked once the registry loads.
		if _, err := rulefile.LoadFiles(sensors.DefaultCatalog(), files); err != nil {
			r.Problems = append(r.Problems, loadProblems("rules", err)...)
		}
		return
	}
	opts, err := app.EngineOptions(r.Config, r.Registry)
	if err != nil {
		r.Problems = append(r.Problems, loadProblems("rules", err)...)
		return
	}
	r.Options = opts
	if set, err := rulefile.LoadFiles(r.Registry.Catalog(), files); err == nil {
		r.layers = set
	}
	if _, err := alerting.NewEngine(r.Registry, nil, opts); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			r.Problems = append(r.Problems, yamlpos.Problem{Msg: "rules: " + line})
		}
	}
}

// loadProblems lists a loader's problems, which carry their own file
// and line, or the error as it is, under what.
func loadProblems(what string, err error) []yamlpos.Problem {
	var le *yamlpos.LoadError
	if errors.As(err, &le) {
		return le.Problems
	}
	var p yamlpos.Problem
	if errors.As(err, &p) {
		return []yamlpos.Problem{p}
	}
	return []yamlpos.Problem{{Msg: what + ": " + err.Error()}}
}
