package app

import (
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
	kindFor := map[sensors.KindID]time.Duration{}
	for k, d := range cfg.Alerting.KindFor {
		kindFor[sensors.KindID(k)] = d
	}
	opts := alerting.Options{
		For: cfg.Alerting.For, KindFor: kindFor,
		Pack: servicePack(cfg.Alerting.Forecast == nil || *cfg.Alerting.Forecast),
	}
	files, err := cfg.RuleFiles()
	if err != nil {
		return opts, err
	}
	if err := rulefile.ApplyFiles(reg, files, &opts); err != nil {
		return opts, err
	}
	// The configuration's off-delay and lateness fill in what the rule
	// files leave unset; applying them twice changes nothing.
	stateOptions(cfg, &opts)
	return opts, nil
}
