package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/rulefile"
	"github.com/riskmon/riskmon/internal/app"
	"github.com/riskmon/riskmon/sensors"
	"github.com/spf13/cobra"
)

func newRules() *cobra.Command {
	rules := &cobra.Command{Use: "rules", Short: "Work with alert rules"}
	rules.AddCommand(&cobra.Command{
		Use:   "test FILE...",
		Short: "Run rule tests: series of readings and the alert events they must raise",
		Long: `test feeds each test's series to the rule engine with the default rule pack
of its sensor kind and compares the alert events with those expected, printing
what is missing and what is unexpected. It exits non-zero when a test fails.
The format is in docs/alerting.md; the default pack's own tests are in
alerting/testdata/ruletests.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			all := true
			for _, f := range args {
				data, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				ok, err := alerting.RunRuleTests(f, data, sensors.DefaultCatalog(), cmd.OutOrStdout())
				if err != nil {
					return err
				}
				all = all && ok
			}
			if !all {
				return errors.New("rule tests failed")
			}
			fmt.Fprintln(cmd.OutOrStdout(), "all rule tests passed")
			return nil
		},
	})
	rules.AddCommand(newRulesShow())
	return rules
}

func newRulesShow() *cobra.Command {
	var path, site, sensor string
	cmd := &cobra.Command{
		Use:   "show --site S --sensor ID",
		Short: "Print the rules a sensor gets from the configuration and its rule files",
		Long: `show prints the effective rules of one sensor after every rule file layer
(sensor > site kind > kind > defaults > built-in pack): its threshold
setpoints, on-delay, off-delay and M-of-N, each early-warning and
sensor-health rule with its parameters, its exposure limits, and the groups
and composite rules that read it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			x, err := explainSensor(path, site, sensor)
			if err != nil {
				return err
			}
			return x.WriteText(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "riskmon.yaml", "configuration file")
	cmd.Flags().StringVar(&site, "site", "", "site id")
	cmd.Flags().StringVar(&sensor, "sensor", "", "sensor id")
	cmd.MarkFlagRequired("site")
	cmd.MarkFlagRequired("sensor")
	return cmd
}

// explainSensor is what the configuration at path and its rule files
// give one sensor, each setting with the rule file layer it came from.
func explainSensor(path, site, sensor string) (alerting.Explanation, error) {
	cfg, reg, err := loadConfig(path)
	if err != nil {
		return alerting.Explanation{}, err
	}
	sn, ok := reg.Lookup(site, sensor)
	if !ok {
		return alerting.Explanation{}, fmt.Errorf("no sensor %s/%s in the registry", site, sensor)
	}
	opts, err := app.EngineOptions(cfg, reg)
	if err != nil {
		return alerting.Explanation{}, err
	}
	var layers alerting.Layers
	if files, err := cfg.RuleFiles(); err == nil && len(files) > 0 {
		// EngineOptions has read them already, so this cannot fail.
		if set, err := rulefile.LoadFiles(reg.Catalog(), files); err == nil {
			layers = set
		}
	}
	return alerting.Explain(reg, sn, opts, layers), nil
}
