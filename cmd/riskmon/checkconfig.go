package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/rulefile"
	"github.com/riskmon/riskmon/internal/app"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
)

// configReport is what check-config found: the problems, each as
// "file:line: message" where a line is known, and what loaded.
type configReport struct {
	problems  []string
	warnings  []string // allowed but risky; they do not fail the check
	cfg       config.Config
	reg       *sensors.Registry
	ruleFiles int
	notifiers int
}

// checkConfig loads a configuration, its registry and rule files, and
// builds the notifiers and the engine without connecting anything,
// collecting every problem it can find in one pass. A problem that stops
// a later step (no registry, no rules to check) does not stop the
// others.
func checkConfig(path string) configReport {
	var r configReport
	data, err := os.ReadFile(path)
	if err != nil {
		r.problems = append(r.problems, err.Error())
		return r
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		r.problems = append(r.problems, yamlProblems(path, err)...)
		return r
	}
	if _, err := config.Parse(data); err != nil {
		r.problems = append(r.problems, yamlProblems(path, err)...)
		return r
	}
	loc := &locator{file: path, doc: &doc}
	// Parse passed, so Load's only error is Validate's, whose problems
	// are listed one key each.
	cfg, _ := config.Load(path)
	var validated []string // keys Validate complained about
	for _, msg := range cfg.Problems() {
		r.problems = append(r.problems, loc.problem(msg))
		validated = append(validated, keyPath.FindString(msg))
	}
	r.cfg = cfg
	for _, msg := range cfg.Warnings() {
		r.warnings = append(r.warnings, strings.Replace(loc.problem(msg), msg, "warning: "+msg, 1))
	}
	for _, f := range []func() error{
		func() error { _, err := cfg.MQTTPassword(); return wrap("mqtt.password_file", err) },
		func() error { _, err := cfg.InfluxToken(); return wrap("influxdb.token_file", err) },
		func() error { _, err := cfg.TLSConfig(); return err },
		func() error { _, err := cfg.APITokens(); return err },
	} {
		if err := f(); err != nil {
			r.problems = append(r.problems, loc.problem(err.Error()))
		}
	}
	if cfg.Registry != "" {
		reg, err := sensors.LoadFile(sensors.DefaultCatalog(), cfg.Path(cfg.Registry))
		if err != nil {
			r.problems = append(r.problems, loadProblems("registry", err)...)
		}
		r.reg = reg
	}
	for _, err := range app.CheckNotifiers(cfg, r.reg) {
		// A channel Validate already refused (a webhook's url) fails to
		// build for the same reason: say it once.
		key := keyPath.FindString(err.Error())
		if key != "" && slices.ContainsFunc(validated, func(v string) bool { return strings.HasPrefix(v, key) }) {
			continue
		}
		r.problems = append(r.problems, loc.problem(err.Error()))
	}
	n := cfg.Alerting.Notify
	r.notifiers = len(n.Webhooks) + len(n.SignedWebhooks) + len(n.Alertmanagers) + len(n.DingTalk) + len(n.WeCom) + len(n.Feishu)
	files, err := cfg.RuleFiles()
	if err != nil {
		r.problems = append(r.problems, loc.problem(err.Error()))
		return r
	}
	r.ruleFiles = len(files)
	if r.reg == nil {
		// Without a registry the rule files can still be read; what they
		// name is checked once the registry loads.
		if _, err := rulefile.LoadFiles(sensors.DefaultCatalog(), files); err != nil {
			r.problems = append(r.problems, loadProblems("rules", err)...)
		}
		return r
	}
	opts, err := app.EngineOptions(cfg, r.reg)
	if err != nil {
		r.problems = append(r.problems, loadProblems("rules", err)...)
		return r
	}
	if _, err := alerting.NewEngine(r.reg, nil, opts); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			r.problems = append(r.problems, "rules: "+line)
		}
	}
	return r
}

func wrap(key string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", key, err)
}

// loadProblems lists a loader's problems, which carry their own file
// and line, or the error as it is.
func loadProblems(what string, err error) []string {
	var le *sensors.LoadError
	if !errors.As(err, &le) {
		return []string{what + ": " + err.Error()}
	}
	out := make([]string, 0, len(le.Problems))
	for _, p := range le.Problems {
		out = append(out, p.String())
	}
	return out
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlProblems turns a YAML decoding error, which holds one line per
// problem ("line 12: field fro not found in type config.Alerting"), into
// file:line problems.
func yamlProblems(path string, err error) []string {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if sub := yamlLine.FindStringSubmatch(m); sub != nil {
			out = append(out, fmt.Sprintf("%s:%s: %s", path, sub[1], sub[2]))
		} else {
			out = append(out, fmt.Sprintf("%s: %s", path, strings.TrimPrefix(m, "yaml: ")))
		}
	}
	return out
}

// locator finds the line of a configuration key.
type locator struct {
	file string
	doc  *yaml.Node
}

// keyPath is the key a message starts with: "http.tokens[1]",
// "alerting.notify.dingtalk[0]", "registry".
var keyPath = regexp.MustCompile(`^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*|\[\d+\])*`)

// problem prefixes msg with file:line of the key it starts with, or of
// the nearest enclosing key that is written in the file; with the file
// alone when none is (a default left unset).
func (l *locator) problem(msg string) string {
	if line := l.line(keyPath.FindString(msg)); line > 0 {
		return fmt.Sprintf("%s:%d: %s", l.file, line, msg)
	}
	return fmt.Sprintf("%s: %s", l.file, msg)
}

func (l *locator) line(path string) int {
	if path == "" || len(l.doc.Content) == 0 {
		return 0
	}
	n := l.doc.Content[0]
	line := 0
	for _, step := range splitPath(path) {
		next, at := child(n, step)
		if next == nil {
			break
		}
		n, line = next, at
	}
	return line
}

// splitPath splits "a.b[2].c" into "a", "b", "[2]", "c".
func splitPath(p string) []string {
	var out []string
	for _, part := range strings.Split(p, ".") {
		name, idx, _ := strings.Cut(part, "[")
		out = append(out, name)
		for idx != "" {
			var i string
			i, idx, _ = strings.Cut(idx, "]")
			out = append(out, "["+i+"]")
			idx = strings.TrimPrefix(idx, "[")
		}
	}
	return out
}

// child is the value under a mapping key or at a list index, with the
// line to report: the key's for a mapping, the item's for a list.
func child(n *yaml.Node, step string) (*yaml.Node, int) {
	if idx, ok := strings.CutPrefix(step, "["); ok {
		i, err := strconv.Atoi(strings.TrimSuffix(idx, "]"))
		if n.Kind != yaml.SequenceNode || err != nil || i < 0 || i >= len(n.Content) {
			return nil, 0
		}
		return n.Content[i], n.Content[i].Line
	}
	if n.Kind != yaml.MappingNode {
		return nil, 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == step {
			return n.Content[i+1], n.Content[i].Line
		}
	}
	return nil, 0
}
