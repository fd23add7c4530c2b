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
	opts, _, err := engineRules(cfg, reg)
	return opts, err
}

// engineRules is EngineOptions with the rule files' response texts per
// rule, which the console and the notifiers carry rather than the engine.
func engineRules(cfg config.Config, reg *sensors.Registry) (alerting.Options, map[string]sensors.Guidance, error) {
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
		return alerting.Options{}, nil, errors.Join(unknown...)
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
		return opts, nil, err
	}
	set, err := rulefile.ApplyFiles(reg, files, &opts)
	if err != nil {
		return opts, nil, err
	}
	// The configuration's off-delay and lateness fill in what the rule
	// files leave unset; applying them twice changes nothing.
	stateOptions(cfg, &opts)
	return opts, set.Guidance(), nil
}
