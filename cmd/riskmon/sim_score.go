package main

import (
	"fmt"
	"time"

	"github.com/riskmon/riskmon/internal/simrun"
	"github.com/spf13/cobra"
)

func newSimScore() *cobra.Command {
	o := simrun.ScoreOptions{}
	bench := simrun.RuleBenchOptions{}
	cmd := &cobra.Command{
		Use:   "score",
		Short: "Score riskmon's alerts against a scenario's ground truth",
		Long: `score matches the alert events riskmon raised (GET /api/events on --api,
the alert_event measurement in InfluxDB with --from-influx, or a saved JSON
array with --events) to the ground truth 'sim run' wrote,
and prints per incident whether it was detected, the first alert's level
and its lead time before the first setpoint crossing (negative: late),
and the false alerts per 1,000 sensor-hours. It exits non-zero when a
detection target of the scenario is missed.

With --bench it needs no running riskmon: it generates the synthetic
incident library (AR(1) noise with lone spikes, a daily drift, straight
and accelerating ramps, spike trains, pipeline ruptures, and long normal
runs of at least --sensor-hours) for each --seeds, runs it through the
default rules and flapping hold in this process, and prints per seed the
detection, the lead (seconds and share of onset→alarm), the ETA error
and the false alerts per 1,000 sensor-hours, then each kind's median
lead over all seeds (docs/alerting.md). --curve bends the accelerating
ramps more (smaller) or less (larger) sharply.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(bench.Seeds) > 0 {
				_, err := simrun.RuleBench(cmd.Context(), cmd.OutOrStdout(), bench)
				return err
			}
			if o.Truth == "" {
				return fmt.Errorf("give --truth, or --bench")
			}
			_, err := simrun.Score(cmd.Context(), cmd.OutOrStdout(), o)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Truth, "truth", "", "ground truth written by 'sim run --truth'")
	f.StringVar(&o.API, "api", "", "riskmon HTTP address, e.g. http://127.0.0.1:9464")
	f.StringVar(&o.Events, "events", "", "saved alert events (JSON array, as GET /api/events returns) instead of --api")
	f.StringVar(&o.Influx.URL, "from-influx", "", "read the alert events riskmon stored in InfluxDB at this URL (2.x, or 1.8 with flux-enabled)")
	f.StringVar(&o.Influx.Bucket, "bucket", "", "with --from-influx: the bucket (1.8: database or database/retention-policy)")
	f.StringVar(&o.Influx.Token, "token", "", "with --from-influx: API token (1.8: user:password or empty)")
	f.StringVar(&o.Influx.Org, "org", "", "with --from-influx: organization (2.x; empty for 1.8)")
	f.DurationVar(&o.Grace, "grace", time.Minute, "alerts this long before an incident's onset or after its end still count for it")
	f.UintSliceVar(&bench.Seeds, "bench", nil, "score the default rules on the synthetic incident library of these seeds, e.g. --bench 1,2,3")
	f.Float64Var(&bench.SensorHours, "sensor-hours", 1000, "with --bench: sensor-hours of normal operation per seed")
	f.Float64Var(&bench.Curve, "curve", 1.0/3, "with --bench: the accelerating ramps' time constant τ as a share of their rise (smaller: a sharper bend)")
	f.Float64Var(&bench.NoiseScale, "noise-scale", 1, "with --bench: multiply every kind's noise deviation (and its spikes) by this")
	f.IntVar(&bench.SpikeEvery, "spike-every", 0, "with --bench: one reading in this many carries a lone spike, for every kind (0: the bench's 300; -1: no spikes)")
	return cmd
}
