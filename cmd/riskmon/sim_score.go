package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/riskmon/riskmon/simulator"
	"github.com/riskmon/riskmon/storage"
	"github.com/spf13/cobra"
)

type simScoreOptions struct {
	bench  ruleBenchOptions
	truth  string
	api    string
	events string
	influx storage.Options // URL set: read from InfluxDB
	grace  time.Duration
}

func newSimScore() *cobra.Command {
	o := simScoreOptions{}
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
and the false alerts per 1,000 sensor-hours (docs/alerting.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(o.bench.seeds) > 0 {
				_, err := runRuleBench(cmd.Context(), cmd.OutOrStdout(), o.bench)
				return err
			}
			if o.truth == "" {
				return fmt.Errorf("give --truth, or --bench")
			}
			_, err := scoreRun(cmd.Context(), cmd.OutOrStdout(), o)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.truth, "truth", "", "ground truth written by 'sim run --truth'")
	f.StringVar(&o.api, "api", "", "riskmon HTTP address, e.g. http://127.0.0.1:9464")
	f.StringVar(&o.events, "events", "", "saved alert events (JSON array, as GET /api/events returns) instead of --api")
	f.StringVar(&o.influx.URL, "from-influx", "", "read the alert events riskmon stored in InfluxDB at this URL (2.x, or 1.8 with flux-enabled)")
	f.StringVar(&o.influx.Bucket, "bucket", "", "with --from-influx: the bucket (1.8: database or database/retention-policy)")
	f.StringVar(&o.influx.Token, "token", "", "with --from-influx: API token (1.8: user:password or empty)")
	f.StringVar(&o.influx.Org, "org", "", "with --from-influx: organization (2.x; empty for 1.8)")
	f.DurationVar(&o.grace, "grace", time.Minute, "alerts this long before an incident's onset or after its end still count for it")
	f.UintSliceVar(&o.bench.seeds, "bench", nil, "score the default rules on the synthetic incident library of these seeds, e.g. --bench 1,2,3")
	f.Float64Var(&o.bench.sensorHours, "sensor-hours", 1000, "with --bench: sensor-hours of normal operation per seed")
	return cmd
}

func scoreRun(ctx context.Context, out io.Writer, o simScoreOptions) (simulator.Score, error) {
	truth, err := readTruth(o.truth)
	if err != nil {
		return simulator.Score{}, err
	}
	var events []simulator.AlertEvent
	sources := 0
	for _, src := range []string{o.api, o.events, o.influx.URL} {
		if src != "" {
			sources++
		}
	}
	switch {
	case sources != 1:
		return simulator.Score{}, fmt.Errorf("give one of --api, --from-influx and --events")
	case o.influx.URL != "":
		if o.influx.Bucket == "" {
			return simulator.Score{}, fmt.Errorf("--from-influx needs --bucket")
		}
		store := storage.New(o.influx)
		events, err = simulator.ReadAlertEventsInflux(ctx, store, truth.Run.Start.Add(-o.grace))
		store.Close()
		if err != nil {
			return simulator.Score{}, err
		}
	case o.events != "":
		f, err := os.Open(o.events)
		if err != nil {
			return simulator.Score{}, err
		}
		events, err = simulator.ReadAlertEvents(f)
		f.Close()
		if err != nil {
			return simulator.Score{}, fmt.Errorf("%s: %w", o.events, err)
		}
	default:
		events, err = fetchEvents(ctx, o.api, truth.Run.Start.Add(-o.grace))
		if err != nil {
			return simulator.Score{}, err
		}
	}
	sc := simulator.ScoreRun(truth, events, simulator.ScoreOptions{Grace: o.grace})
	fmt.Fprintf(out, "scenario %s, %d alert events read\n\n", truth.Run.Scenario, len(events))
	if err := sc.WriteTable(out); err != nil {
		return sc, err
	}
	if sc.Missed > 0 {
		return sc, fmt.Errorf("%d %w", sc.Missed, errTargetsMissed)
	}
	return sc, nil
}

// fetchEvents reads riskmon's recent alert events from since on.
func fetchEvents(ctx context.Context, api string, since time.Time) ([]simulator.AlertEvent, error) {
	u := strings.TrimSuffix(api, "/") + "/api/events?since=" + url.QueryEscape(since.UTC().Format(time.RFC3339Nano))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	evs, err := simulator.ReadAlertEvents(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return evs, nil
}
