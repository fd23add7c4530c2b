package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/riskmon/riskmon/alerting"
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
			cfg, reg, err := loadConfig(path)
			if err != nil {
				return err
			}
			sn, ok := reg.Lookup(site, sensor)
			if !ok {
				return fmt.Errorf("no sensor %s/%s in the registry", site, sensor)
			}
			opts, err := app.EngineOptions(cfg, reg)
			if err != nil {
				return err
			}
			writeRules(cmd.OutOrStdout(), sn, opts)
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "riskmon.yaml", "configuration file")
	cmd.Flags().StringVar(&site, "site", "", "site id")
	cmd.Flags().StringVar(&sensor, "sensor", "", "sensor id")
	cmd.MarkFlagRequired("site")
	cmd.MarkFlagRequired("sensor")
	return cmd
}

// writeRules prints what opts give sensor s, the way the engine reads
// them.
func writeRules(w io.Writer, s *sensors.Sensor, opts alerting.Options) {
	t := alerting.TimingFor(s, opts)
	forDur, off, mofn := t.For, t.OffDelay, t.MOfN
	fmt.Fprintf(w, "sensor %s/%s, kind %s (%s)\n", s.Site, s.ID, s.Kind, s.KindInfo().Unit)
	fmt.Fprintf(w, "threshold: for %s, off_delay %s", forDur, off)
	if mofn.M > 0 {
		fmt.Fprintf(w, ", %d of %d readings", mofn.M, mofn.N)
	}
	fmt.Fprintln(w)
	for _, sp := range s.EffectiveSetpoints() {
		fmt.Fprintf(w, "  level %s %s %g (restore %g)\n", sp.Level, sp.Direction, sp.Value, sp.Clear)
	}
	// The levels the rules fire at, defaults filled in, not the zero a
	// configuration leaves to the default.
	p := alerting.PackFor(s, opts).Effective()
	for _, r := range []struct {
		name string
		cfg  any
		on   bool
	}{
		{"rate", p.Rate, p.Rate != nil}, {"trend", p.Trend, p.Trend != nil}, {"forecast", p.Forecast, p.Forecast != nil},
		{"stuck", p.Stuck, p.Stuck != nil}, {"jump", p.Jump, p.Jump != nil}, {"stale", p.Stale, p.Stale != nil},
	} {
		if !r.on {
			fmt.Fprintf(w, "%s: off\n", r.name)
			continue
		}
		fmt.Fprintf(w, "%s: %+v\n", r.name, reflect.ValueOf(r.cfg).Elem().Interface())
	}
	limits := opts.Exposure
	if limits == nil {
		limits = alerting.DefaultExposureLimits()
	}
	if l, ok := limits[s.Kind]; ok && (l.TWA > 0 || l.STEL > 0) {
		fmt.Fprintf(w, "exposure: %+v\n", l)
	}
	for _, g := range opts.Groups {
		if g.Site == s.Site && slices.Contains(g.Sensors, s.ID) {
			fmt.Fprintf(w, "group %s: %v, tolerance %g, vote %d\n", g.ID, g.Sensors, g.Tolerance, g.Vote)
		}
	}
	name := alerting.ExprName(s.ID)
	for _, c := range opts.Composite {
		if c.Site == s.Site && slices.Contains(identifiers(c.Expr), name) {
			fmt.Fprintf(w, "composite %s: %s\n", c.ID, c.Expr)
		}
	}
}

// identifiers are the names in an expression.
func identifiers(expr string) []string {
	return strings.FieldsFunc(expr, func(c rune) bool {
		return !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9')
	})
}
