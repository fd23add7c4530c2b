package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
	"github.com/spf13/cobra"
)

type simRunOptions struct {
	scenario    string
	broker      string
	speed       float64
	truth       string
	registryOut string
	dryRun      bool
	// fleet, sites and sensors replace the scenario's fleet: a fleet
	// file, or one sized from the templates.
	fleet          string
	sites, sensors int
	// now is the wall clock at the start; zero means time.Now.
	now time.Time
}

func newSimRun(g *globals) *cobra.Command {
	o := simRunOptions{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Play a scenario file against a broker and write its ground truth",
		Long: `run publishes the scenario's fleet with its incidents for the scenario's
duration of device time, --speed times faster than real time, and writes
the ground truth (JSON lines) to --truth before it starts publishing.

At a speed above 1 the device time runs from one scenario length before
now up to now, so no reading is ever ahead of the wall clock (riskmon
rejects readings from the future) and the timestamps stay consistent.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := "info"
			if g.logLevel != "" {
				level = g.logLevel
			}
			_, _, err := runScenario(cmd.Context(), cmd.OutOrStdout(), newLogger(level), o)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.scenario, "scenario", "", "scenario file (YAML), e.g. simulator/scenarios/gas-leak.yaml")
	f.StringVar(&o.broker, "broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	f.Float64Var(&o.speed, "speed", 1, "device time runs this many times faster than the wall clock (inf: as fast as the broker takes it)")
	f.StringVar(&o.truth, "truth", "", "write the ground truth (JSON lines) here")
	f.StringVar(&o.registryOut, "registry-out", "", "write the scenario fleet's registry (YAML) here, for 'serve'")
	f.BoolVar(&o.dryRun, "dry-run", false, "check the scenario, write --registry-out and --truth, and exit without publishing")
	addFleetFlags(cmd, &o.fleet, &o.sites, &o.sensors)
	_ = cmd.MarkFlagRequired("scenario")
	return cmd
}

// runScenario plays a scenario and returns its ground truth.
func runScenario(ctx context.Context, out io.Writer, log *slog.Logger, o simRunOptions) (*simulator.Truth, simulator.Stats, error) {
	fleet, err := buildFleet(o.fleet, o.sites, o.sensors)
	if err != nil {
		return nil, simulator.Stats{}, err
	}
	sc, err := simulator.LoadScenarioWith(o.scenario, simulator.ScenarioOptions{Fleet: fleet})
	if err != nil {
		return nil, simulator.Stats{}, err
	}
	if o.speed <= 0 || math.IsNaN(o.speed) {
		return nil, simulator.Stats{}, fmt.Errorf("--speed %g must be positive", o.speed)
	}
	if limit := sc.MaxSpeed(); o.speed > limit && !o.dryRun {
		return nil, simulator.Stats{}, fmt.Errorf("--speed %g: scenario %s can be played at most %.3g times real time: riskmon notices a silent sensor on its own clock, after 3 reporting intervals, and a targeted sensor outage would pass unseen", o.speed, sc.Name, limit)
	}
	now := o.now
	if now.IsZero() {
		now = time.Now()
	}
	start := now.UTC().Truncate(time.Second)
	if o.speed > 1 {
		start = start.Add(-sc.Duration)
	}
	truth, err := sc.Truth(start)
	if err != nil {
		return nil, simulator.Stats{}, err
	}
	if o.truth != "" {
		if err := writeTruth(truth, o.truth); err != nil {
			return nil, simulator.Stats{}, err
		}
		fmt.Fprintln(out, "ground truth written to", o.truth)
	}
	if o.registryOut != "" {
		reg, err := sc.Fleet.Registry(sensors.DefaultCatalog())
		if err != nil {
			return nil, simulator.Stats{}, err
		}
		if err := reg.WriteYAMLFile(o.registryOut); err != nil {
			return nil, simulator.Stats{}, err
		}
		fmt.Fprintln(out, "registry written to", o.registryOut)
	}
	if o.dryRun {
		fmt.Fprintf(out, "scenario %s: %d incidents over %s of device time, %d sensors: ok\n",
			sc.Name, len(sc.Incidents), sc.Duration, truth.Run.Sensors)
		return truth, simulator.Stats{}, nil
	}
	// The truth is written again once the publisher knows when it
	// starts pacing, so the scorer can map riskmon's receive times of
	// condition alerts back to device time.
	var startErr error
	onStart := func(wall, _ time.Time) {
		if math.IsInf(o.speed, 1) {
			return
		}
		truth.Run.WallStart, truth.Run.Speed = wall.UTC(), o.speed
		if o.truth != "" {
			startErr = writeTruth(truth, o.truth)
		}
	}
	pub, err := simulator.NewPublisher(simulator.Options{
		Broker: o.broker, Fleet: sc.Fleet, Scripted: sc.Scripted(), Interval: sc.Interval,
		Speed: o.speed, Seed: sc.Seed, Start: start, Duration: sc.Duration, OnStart: onStart,
		Logger: log.With("component", "simulator", "scenario", sc.Name),
	})
	if err != nil {
		return nil, simulator.Stats{}, err
	}
	fmt.Fprintf(out, "scenario %s: %d incidents over %s of device time from %s, speed %g\n",
		sc.Name, len(sc.Incidents), sc.Duration, start.Format(time.RFC3339), o.speed)
	if sum := formatSummary(sc.Fleet); sum != "" {
		fmt.Fprintln(out, "gateway formats:", sum)
	}
	st, err := pub.Run(ctx)
	fmt.Fprintf(out, "published %d readings in %d messages (%d failed attempts, %d unconfirmed)\n",
		st.Readings, st.Messages, st.Failed, st.Unconfirmed)
	if err != nil {
		return truth, st, err
	}
	if startErr != nil {
		return truth, st, fmt.Errorf("ground truth: %w", startErr)
	}
	if st.Unconfirmed > 0 {
		return truth, st, fmt.Errorf("%d publishes unconfirmed", st.Unconfirmed)
	}
	return truth, st, nil
}

func writeTruth(t *simulator.Truth, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := t.WriteJSONL(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readTruth(path string) (*simulator.Truth, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := simulator.ReadTruth(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// errTargetsMissed makes 'sim score' exit non-zero after printing its
// table.
var errTargetsMissed = errors.New("detection targets missed")

// formatSummary counts the fleet's gateways per payload format, e.g.
// "json 5, lp 2, sparkplug 2"; it is empty for an all-JSON fleet, which
// needs no mention.
func formatSummary(f simulator.Fleet) string {
	n := map[simulator.Format]int{}
	for _, g := range f.Gateways() {
		n[g.Format]++
	}
	if len(n) == 1 && n[simulator.FormatJSON] > 0 {
		return ""
	}
	var parts []string
	for _, ff := range simulator.Formats() {
		if n[ff] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", ff, n[ff]))
		}
	}
	return strings.Join(parts, ", ")
}

// addFleetFlags adds the flags that replace a fleet.
func addFleetFlags(cmd *cobra.Command, file *string, sites, sensors *int) {
	f := cmd.Flags()
	f.StringVar(file, "fleet", "", "fleet file (YAML: site templates by count and where, see simulator/fleets/) instead of the built-in fleet")
	f.IntVar(sites, "sites", 0, "build a fleet of this many sites from the templates, cycling through the sectors")
	f.IntVar(sensors, "sensors", 0, "build a fleet of this many sensors (with --sites: spread over those sites)")
}

// buildFleet is the fleet --fleet or --sites/--sensors ask for, or nil
// when they ask for none.
func buildFleet(file string, sites, sensors int) (*simulator.Fleet, error) {
	switch {
	case file != "" && (sites != 0 || sensors != 0):
		return nil, errors.New("give --fleet or --sites/--sensors, not both")
	case file != "":
		f, err := simulator.LoadFleet(file)
		if err != nil {
			return nil, err
		}
		return &f, nil
	case sites != 0 || sensors != 0:
		f, err := simulator.SizedFleet(sites, sensors)
		if err != nil {
			return nil, fmt.Errorf("--sites/--sensors: %s", strings.TrimPrefix(err.Error(), "simulator fleet: "))
		}
		return &f, nil
	}
	return nil, nil
}
