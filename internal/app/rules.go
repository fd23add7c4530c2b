package app

import (
	"errors"
	"fmt"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/rulefile"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
)

// EngineOptions are the rules the configuration and its rule files
// (alerting.rules) give the alerting engine. The service runs them,
// `riskmon replay` backtests them and `riskmon check-config` checks
// them, so every rule setting read from the configuration belongs here;
// wiring (metrics, logger, inhibition) is the caller's. Rule file
// problems come back as a *sensors.LoadError, each with its file and
// line.
func EngineOptions(cfg config.Config, reg *sensors.Registry) (alerting.Options, error) {
	r, err := engineRules(cfg, reg)
	return r.opts, err
}

// ruleSet is what the configuration and its rule files give: the
// engine's options, the rule files' response texts per rule (which the
// console and the notifiers carry rather than the engine) and the rule
// files' layers, which say where each sensor's settings came from.
type ruleSet struct {
	opts     alerting.Options
	guidance map[string]sensors.Guidance
	layers   alerting.Layers
}

// engineRules is EngineOptions with the rule files' guidance and layers.
func engineRules(cfg config.Config, reg *sensors.Registry) (ruleSet, error) {
	kindFor := map[sensors.KindID]time.Duration{}
	var unknown []error
	for _, m := range [...]struct {
		key   string
		kinds map[string]time.Duration
	}{{"alerting.kind_for", cfg.Alerting.KindFor}, {"alerting.kind_off_delay", cfg.Alerting.KindOffDelay}} {
		for k := range m.kinds {
			if _, ok := reg.Catalog().Kind(sensors.KindID(k)); !ok {
				// A typo here would leave the kind on the default delay.
				unknown = append(unknown, fmt.Errorf("%s: unknown sensor kind %q (riskmon kinds lists them)", m.key, k))
			}
		}
	}
	if len(unknown) > 0 {
		return ruleSet{}, errors.Join(unknown...)
	}
	for k, d := range cfg.Alerting.KindFor {
		kindFor[sensors.KindID(k)] = d
	}
	opts := alerting.Options{
		For: cfg.Alerting.For, KindFor: kindFor,
		Pack: servicePack(cfg.Alerting.Forecast == nil || *cfg.Alerting.Forecast),
	}
	files, err := cfg.RuleFiles()
	if err != nil {
		return ruleSet{opts: opts}, err
	}
	set, err := rulefile.ApplyFiles(reg, files, &opts)
	if err != nil {
		return ruleSet{opts: opts}, err
	}
	// The configuration's off-delay and lateness fill in what the rule
	// files leave unset; applying them twice changes nothing.
	stateOptions(cfg, &opts)
	return ruleSet{opts: opts, guidance: set.Guidance(), layers: set}, nil
}

// Explain is the rules the engine in force evaluates sensor by, with
// where each setting came from (what `riskmon rules show` prints for the
// configuration on disk); false for a sensor not in the registry.
func (s *Service) Explain(site, sensor string) (alerting.Explanation, bool) {
	reg := s.registry.Registry()
	sn, ok := reg.Lookup(site, sensor)
	r := s.rules.Load()
	if !ok || r == nil {
		return alerting.Explanation{}, false
	}
	return alerting.Explain(reg, sn, r.opts, r.layers), true
}
