package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/riskmon/riskmon/alerting"
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
	return rules
}
