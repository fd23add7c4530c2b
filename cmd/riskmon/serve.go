package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/riskmon/riskmon/internal/app"
	"github.com/riskmon/riskmon/internal/app/configcheck"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
	"github.com/spf13/cobra"
)

func newServe(g *globals) *cobra.Command {
	var path, pprofAddr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the service against the broker and InfluxDB named in the config file",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, reg, err := loadConfig(path)
			if err != nil {
				return err
			}
			log := newLogger(logLevel(g, cfg.LogLevel))
			svc, err := app.New(cfg, reg, log)
			if err != nil {
				return err
			}
			addr, err := svc.Listen()
			if err != nil {
				return err
			}
			input, from := "broker", cfg.MQTT.Broker
			if cfg.ClusterMode() {
				input, from = "cluster", strings.Join(cfg.Cluster.URLs, ",")
			}
			log.Info("riskmon serving", "sensors", reg.Len(), "sites", len(reg.Sites()),
				input, from, "influxdb", cfg.InfluxDB.URL, "metrics", "http://"+addr+"/metrics", "api", "http://"+addr+"/api/v1")
			svc.SetReloadSource(func() (config.Config, *sensors.Registry, error) { return loadConfig(path) })
			ctx := cmd.Context()
			if pprofAddr != "" {
				if err := servePprof(ctx, pprofAddr, log); err != nil {
					return fmt.Errorf("--pprof: %w", err)
				}
			}
			go reloadOnHangup(ctx, notifyHangup(), svc)
			return svc.Run(ctx)
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "riskmon.yaml", "configuration file")
	cmd.Flags().StringVar(&pprofAddr, "pprof", "", "also serve Go's runtime profiles (net/http/pprof) on this address, e.g. 127.0.0.1:6060; keep it on loopback")
	return cmd
}

// notifyHangup delivers SIGHUP to the channel it returns instead of
// ending the process.
func notifyHangup() chan os.Signal {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// reloadOnHangup reloads the rules and the registry on every signal on
// hup until ctx ends; a refused reload is logged and the old rules keep
// running.
func reloadOnHangup(ctx context.Context, hup chan os.Signal, svc *app.Service) {
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			// Reload logs its own outcome.
			_, _ = svc.Reload(ctx, "SIGHUP", "")
		}
	}
}

func loadConfig(path string) (config.Config, *sensors.Registry, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return cfg, nil, err
	}
	reg, err := sensors.LoadFile(sensors.DefaultCatalog(), cfg.Path(cfg.Registry))
	if err != nil {
		return cfg, nil, fmt.Errorf("registry: %w", err)
	}
	return cfg, reg, nil
}

func newCheckConfig() *cobra.Command {
	var path string
	var explain []string
	var offline bool
	cmd := &cobra.Command{
		Use:   "check-config",
		Short: "Check a config file, its sensor registry, rule files and notifiers, reporting every problem",
		Long: `check-config loads the configuration, the sensor registry and the rule files,
and builds the notification channels and the alerting engine without
connecting to anything. It prints every problem it finds, each with its
file and line where there is one, and exits non-zero if there is any.
Warnings (allowed but risky, such as a console reachable from the network
without TLS or without accounts) are printed too and do not fail the check.
With a cluster: section it then connects to NATS, changing nothing, and
checks that a server answers, takes the credentials, has JetStream on and
keeps the stream with this file's partition count and replicas; --offline
skips that.
With --explain SITE/SENSOR it then prints the rules that sensor gets, as
'rules show' does.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := configcheck.Check(path)
			input := "broker " + r.Config.MQTT.Broker
			if r.Config.ClusterMode() {
				input = "cluster " + strings.Join(r.Config.Cluster.URLs, ",") + " (not contacted: --offline)"
			}
			if r.Config.ClusterMode() && !offline {
				ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
				input = "cluster " + r.CheckCluster(ctx)
				cancel()
			}
			w := cmd.OutOrStdout()
			writeReport(w, r)
			if !r.OK() {
				return fmt.Errorf("%s: %d problem(s)", path, len(r.Problems))
			}
			fmt.Fprintf(w, "%s: ok (%d sites, %d sensors, %d rule files, %d notification channels besides log and mqtt, %s, influxdb %s)\n",
				path, len(r.Registry.Sites()), r.Registry.Len(), r.RuleFiles, r.Notifiers, input, r.Config.InfluxDB.URL)
			for _, id := range explain {
				site, sensor, _ := strings.Cut(id, "/")
				x, err := r.Explain(site, sensor)
				if err != nil {
					return err
				}
				if err := x.WriteText(w); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "riskmon.yaml", "configuration file")
	cmd.Flags().BoolVar(&offline, "offline", false, "do not connect to the NATS cluster of a cluster: section")
	cmd.Flags().StringSliceVar(&explain, "explain", nil, "SITE/SENSOR whose effective rules to print once the check passes (repeatable)")
	return cmd
}

func newKinds() *cobra.Command {
	return &cobra.Command{
		Use:   "kinds",
		Short: "List the sensor kinds with units, physical ranges, reporting intervals and default setpoints",
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			for _, k := range sensors.DefaultCatalog().Kinds() {
				fmt.Fprintf(w, "%-26s %-8s %g..%g  %s\n", k.ID, k.Unit, k.Min, k.Max, k.Name)
				for _, a := range k.Aliases {
					fmt.Fprintf(w, "    also written %s, the same unit; registry: unit: %q  也可写作 %s，同一单位\n", a, a, a)
				}
				for _, u := range k.Units {
					fmt.Fprintf(w, "    also in %s (%.6g..%.6g)", u.Unit, u.Min, u.Max)
					if u.Scale == 0 && len(k.Setpoints) > 0 {
						fmt.Fprint(w, ", setpoints from the registry")
					}
					fmt.Fprintf(w, "; registry: unit: %q  也可用 %s\n", u.Unit, u.Unit)
					if u.Basis != "" {
						fmt.Fprintf(w, "      %s  %s\n", u.Basis, u.BasisZH)
					}
					if ku, _ := k.InUnit(u.Unit); ku != nil && len(ku.Setpoints) > 0 {
						vs := make([]string, len(ku.Setpoints))
						for i, sp := range ku.Setpoints {
							vs[i] = fmt.Sprintf("%.6g", sp.Value)
						}
						fmt.Fprintf(w, "      default setpoints in %s: %s  默认设定值折合 %s：%s\n", u.Unit, strings.Join(vs, ", "), u.Unit, strings.Join(vs, "、"))
					}
				}
				// The interval a gateway must report at: sensor_stale fires
				// after three of them without a reading.
				fmt.Fprintf(w, "    report every %s (stale after %s without a reading)  每 %s 上报一次，%s 无数据即报失联\n",
					k.Interval, 3*k.Interval, k.Interval, 3*k.Interval)
				for _, sp := range k.Resolve(k.Setpoints) {
					fmt.Fprintf(w, "    level %-9s %s %g (restore %g)  source: %s\n", sp.Level, sp.Direction, sp.Value, sp.Clear, sp.Source)
				}
				if len(k.Setpoints) == 0 {
					fmt.Fprintln(w, "    no national default: setpoints come from the site's registry  无国家默认值：设定值见场所登记表")
				}
				if k.Note != "" {
					fmt.Fprintf(w, "    note: %s\n    说明：%s\n", k.Note, k.NoteZH)
				}
			}
			return nil
		},
	}
}
