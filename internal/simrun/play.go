package simrun

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
)

// PlayOptions configure one play of a scenario.
type PlayOptions struct {
	Scenario    string
	Broker      string
	Speed       float64
	Truth       string // write the ground truth here, when set
	RegistryOut string // write the scenario fleet's registry here, when set
	DryRun      bool
	// Fleet, Sites and Sensors replace the scenario's fleet: a fleet
	// file, or one sized from the templates.
	Fleet          string
	Sites, Sensors int
	// Now is the wall clock at the start; zero means time.Now.
	Now time.Time
}

// ErrTargetsMissed makes 'sim score' exit non-zero after printing its
// table.
var ErrTargetsMissed = errors.New("detection targets missed")

// Play plays a scenario and returns its ground truth.
func Play(ctx context.Context, out io.Writer, log *slog.Logger, o PlayOptions) (*simulator.Truth, simulator.Stats, error) {
	sc, start, truth, err := prepare(out, o)
	if err != nil || o.DryRun {
		return truth, simulator.Stats{}, err
	}
	// The truth is written again once the publisher knows when it
	// starts pacing, so the scorer can map riskmon's receive times of
	// condition alerts back to device time.
	var startErr error
	onStart := func(wall, _ time.Time) {
		if math.IsInf(o.Speed, 1) {
			return
		}
		truth.Run.WallStart, truth.Run.Speed = wall.UTC(), o.Speed
		if o.Truth != "" {
			startErr = writeTruth(truth, o.Truth)
		}
	}
	pub, err := simulator.NewPublisher(simulator.Options{
		Broker: o.Broker, Fleet: sc.Fleet, Scripted: sc.Scripted(), Interval: sc.Interval,
		Speed: o.Speed, Seed: sc.Seed, Start: start, Duration: sc.Duration, OnStart: onStart,
		Logger: log.With("component", "simulator", "scenario", sc.Name),
	})
	if err != nil {
		return nil, simulator.Stats{}, err
	}
	fmt.Fprintf(out, "scenario %s: %d incidents over %s of device time from %s, speed %g\n",
		sc.Name, len(sc.Incidents), sc.Duration, start.Format(time.RFC3339), o.Speed)
	if sum := FormatSummary(sc.Fleet); sum != "" {
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

// prepare loads and checks the scenario, places its device time, and
// writes its ground truth and registry where o asks; a dry run ends here.
func prepare(out io.Writer, o PlayOptions) (sc *simulator.Scenario, start time.Time, truth *simulator.Truth, err error) {
	fleet, err := BuildFleet(o.Fleet, o.Sites, o.Sensors)
	if err != nil {
		return nil, start, nil, err
	}
	if sc, err = simulator.LoadScenarioWith(o.Scenario, simulator.ScenarioOptions{Fleet: fleet}); err != nil {
		return nil, start, nil, err
	}
	if o.Speed <= 0 || math.IsNaN(o.Speed) {
		return nil, start, nil, fmt.Errorf("--speed %g must be positive", o.Speed)
	}
	if limit := sc.MaxSpeed(); o.Speed > limit && !o.DryRun {
		return nil, start, nil, fmt.Errorf("--speed %g: scenario %s can be played at most %.3g times real time: riskmon notices a silent sensor on its own clock, after 3 reporting intervals, and a targeted sensor outage would pass unseen", o.Speed, sc.Name, limit)
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	start = now.UTC().Truncate(time.Second)
	if o.Speed > 1 {
		start = start.Add(-sc.Duration)
	}
	if truth, err = sc.Truth(start); err != nil {
		return nil, start, nil, err
	}
	if o.Truth != "" {
		if err := writeTruth(truth, o.Truth); err != nil {
			return nil, start, nil, err
		}
		fmt.Fprintln(out, "ground truth written to", o.Truth)
	}
	if o.RegistryOut != "" {
		reg, err := sc.Fleet.Registry(sensors.DefaultCatalog())
		if err != nil {
			return nil, start, nil, err
		}
		if err := reg.WriteYAMLFile(o.RegistryOut); err != nil {
			return nil, start, nil, err
		}
		fmt.Fprintln(out, "registry written to", o.RegistryOut)
	}
	if o.DryRun {
		fmt.Fprintf(out, "scenario %s: %d incidents over %s of device time, %d sensors: ok\n",
			sc.Name, len(sc.Incidents), sc.Duration, truth.Run.Sensors)
	}
	return sc, start, truth, nil
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

// FormatSummary counts the fleet's gateways per payload format, e.g.
// "json 5, lp 2, sparkplug 2"; it is empty for an all-JSON fleet, which
// needs no mention.
func FormatSummary(f simulator.Fleet) string {
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

// BuildFleet is the fleet --fleet or --sites/--sensors ask for, or nil
// when they ask for none.
func BuildFleet(file string, sites, sensors int) (*simulator.Fleet, error) {
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
