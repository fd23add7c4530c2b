package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/internal/app"
	"github.com/riskmon/riskmon/internal/replay"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/storage"
)

type replayFlags struct {
	config, csv, site, sensor, from, to string
	rules                               []string
	chunk                               time.Duration
	json, events                        bool
}

func newReplay() *cobra.Command {
	var f replayFlags
	cmd := &cobra.Command{
		Use:   "replay --from T --to T",
		Short: "Backtest the current rules on stored readings and print the alerts they would have raised",
		Long: `replay reads the readings of a time range from InfluxDB (or from a CSV file of
site,sensor,time,value[,quality]), runs them in device-time order through a
fresh alerting engine built from the configuration and its rule files, and
prints every alert the rules would have raised: rule, site, sensor, level,
fired at, resolved at, peak value and the times of its level changes,
then a summary line. The engine's events pass the flapping hold
(alerting.flapping) as in the service, on device time, so the alerts are
those the service would have paged; --events prints that event stream
itself. Nothing is notified and nothing is written.

--rules FILE tries candidate rule files in place of the configuration's
alerting.rules (an empty --rules= tries none), so a change can be compared
with what runs now before it is deployed.

Times are RFC 3339, epoch milliseconds, "now" or a duration before now
("-24h"). See docs/alerting.md#backtesting-with-replay.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReplay(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "riskmon.yaml", "configuration file: registry, rules and InfluxDB")
	fl.StringVar(&f.csv, "csv", "", "read readings from this CSV file instead of InfluxDB")
	fl.StringVar(&f.from, "from", "", "start of the range (inclusive); required for InfluxDB")
	fl.StringVar(&f.to, "to", "", "end of the range (exclusive); required for InfluxDB")
	fl.StringVar(&f.site, "site", "", "only this site")
	fl.StringVar(&f.sensor, "sensor", "", "only this sensor id")
	fl.StringSliceVar(&f.rules, "rules", nil, "rule files (or globs) to try instead of the configuration's alerting.rules")
	fl.DurationVar(&f.chunk, "chunk", time.Hour, "span of one InfluxDB query")
	fl.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	fl.BoolVar(&f.events, "events", false, "print the alert event stream (fired, escalated, updated, resolved) instead of the alerts")
	return cmd
}

func runReplay(cmd *cobra.Command, f replayFlags) error {
	now := time.Now()
	var filter replay.Filter
	var err error
	if filter.From, err = parseWhen(f.from, now); err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	if filter.To, err = parseWhen(f.to, now); err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	if !filter.From.IsZero() && !filter.To.IsZero() && !filter.From.Before(filter.To) {
		return fmt.Errorf("--from %s is not before --to %s", f.from, f.to)
	}
	filter.Site, filter.Sensor = f.site, f.sensor
	cfg, reg, err := loadConfig(f.config)
	if err != nil {
		return err
	}
	if err := checkSelection(reg, f.site, f.sensor); err != nil {
		return err
	}
	if f.rules != nil {
		// Candidate rule files are named from where the command runs,
		// not from the configuration's folder.
		cfg.Alerting.Rules = nil
		for _, r := range f.rules {
			abs, err := filepath.Abs(r)
			if err != nil {
				return err
			}
			cfg.Alerting.Rules = append(cfg.Alerting.Rules, abs)
		}
	}
	opts, err := app.EngineOptions(cfg, reg)
	if err != nil {
		return err
	}
	var src replay.Source
	if f.csv != "" {
		file, err := os.Open(f.csv)
		if err != nil {
			return err
		}
		defer file.Close()
		src = replay.CSV{Name: f.csv, R: file}
	} else {
		if filter.From.IsZero() || filter.To.IsZero() {
			return fmt.Errorf("replay from InfluxDB needs --from and --to")
		}
		token, err := cfg.InfluxToken()
		if err != nil {
			return err
		}
		// An hour's chunk of many sensors may take minutes to stream.
		store := storage.New(storage.Options{URL: cfg.InfluxDB.URL, Token: token, Org: cfg.InfluxDB.Org, Bucket: cfg.InfluxDB.Bucket,
			Timeout: 5 * time.Minute})
		defer store.Close()
		src = replay.Influx{Store: store, Chunk: f.chunk, Site: f.site, Sensor: f.sensor, From: filter.From, To: filter.To}
	}
	flap := lifecycle.FlapOptions{Raises: cfg.Alerting.Flapping.Raises, Window: cfg.Alerting.Flapping.Window}
	res, err := replay.RunHeld(cmd.Context(), reg, opts, flap, src, filter)
	if err != nil {
		return err
	}
	switch {
	case f.json:
		return res.WriteJSON(cmd.OutOrStdout())
	case f.events:
		return res.WriteEvents(cmd.OutOrStdout())
	}
	return res.WriteTable(cmd.OutOrStdout())
}

// checkSelection refuses a site or sensor the registry does not have: a
// typo would otherwise replay nothing and report no alerts.
func checkSelection(reg *sensors.Registry, site, sensor string) error {
	if site != "" {
		if _, ok := reg.Site(site); !ok {
			return fmt.Errorf("--site %s: no such site in the registry", site)
		}
	}
	if sensor == "" {
		return nil
	}
	for _, s := range reg.Sensors() {
		if s.ID == sensor && (site == "" || s.Site == site) {
			return nil
		}
	}
	return fmt.Errorf("--sensor %s: no such sensor in the registry", sensor)
}

// parseWhen reads RFC 3339, epoch milliseconds, "now" or a duration
// before now ("-24h"); "" is no bound.
func parseWhen(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "":
		return time.Time{}, nil
	case s == "now":
		return now.UTC(), nil
	case strings.HasPrefix(s, "-"):
		if d, err := time.ParseDuration(s[1:]); err == nil {
			return now.Add(-d).UTC(), nil
		}
	}
	t, err := replay.ParseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-11-28T16:00:00Z), epoch milliseconds, now or -DURATION", s)
	}
	return t, nil
}
