package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
	"github.com/spf13/cobra"
)

func newSim(g *globals) *cobra.Command {
	var (
		brokerURL      string
		sitesPerSector int
		interval       time.Duration
		duration       time.Duration
		registryOut    string
		leakAt         string
		leakStart      time.Duration
		leakPeak       float64
		speed          float64
		format         string
		formats        []string
		fleetFile      string
		sites          int
		sensorCount    int
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Publish a simulated fleet to a broker (write its registry with --registry-out for 'serve')",
		Long: `sim without a subcommand publishes the demo fleet, optionally with one
scripted gas leak (--leak), until --for is over or it is interrupted.

'sim run' plays a scenario file and writes its ground truth; 'sim score'
scores the alerts riskmon raised against that truth (docs/simulator.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fleet := simulator.DemoFleet(sitesPerSector)
			sized, err := buildFleet(fleetFile, sites, sensorCount)
			switch {
			case err != nil:
				return err
			case sized != nil && cmd.Flags().Changed("sites-per-sector"):
				return errors.New("give --sites-per-sector or --fleet/--sites/--sensors, not both")
			case sized != nil:
				fleet = *sized
			}
			if err := setFormats(&fleet, format, formats); err != nil {
				return err
			}
			reg, err := fleet.Registry(sensors.DefaultCatalog())
			if err != nil {
				return err
			}
			if registryOut != "" {
				if err := reg.WriteYAMLFile(registryOut); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "registry written to", registryOut)
			}
			var incidents []simulator.GasLeak
			if leakAt != "" {
				site, sensor, ok := strings.Cut(leakAt, "/")
				if !ok {
					return errors.New("--leak wants site/sensor")
				}
				incidents = append(incidents, simulator.GasLeak{Site: site, Sensor: sensor, Peak: leakPeak,
					Start: leakStart, RampUp: time.Minute, Hold: 30 * time.Second, RampDown: time.Minute})
			}
			ctx := cmd.Context()
			if duration > 0 {
				var cancel func()
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			level := "info"
			if g.logLevel != "" {
				level = g.logLevel
			}
			pub, err := simulator.NewPublisher(simulator.Options{Broker: brokerURL, Fleet: fleet, Incidents: incidents,
				Interval: interval, Speed: speed, Seed: 1, Logger: newLogger(level)})
			if err != nil {
				return err
			}
			st, err := pub.Run(ctx)
			fmt.Fprintf(cmd.OutOrStdout(), "published %d readings in %d messages (%d failed attempts)\n", st.Readings, st.Messages, st.Failed)
			if err != nil && ctx.Err() == nil {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&brokerURL, "broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	f.IntVar(&sitesPerSector, "sites-per-sector", 1, "simulated sites of each sector")
	f.DurationVar(&interval, "interval", 5*time.Second, "device time between two batches of one gateway")
	f.Float64Var(&speed, "speed", 1, "device time runs this many times faster than the wall clock")
	f.DurationVar(&duration, "for", 0, "stop after this long (0: until Ctrl-C)")
	f.StringVar(&registryOut, "registry-out", "", "write the fleet's registry (YAML) here")
	f.StringVar(&leakAt, "leak", "", "script a gas leak at site/sensor")
	f.DurationVar(&leakStart, "leak-start", 30*time.Second, "when the leak starts")
	f.Float64Var(&leakPeak, "leak-peak", 60, "leak peak value in the sensor's unit")
	f.StringVar(&format, "format", "json", "payload format of every gateway: json, lp or sparkplug")
	f.StringSliceVar(&formats, "formats", nil, "per-site or per-gateway formats, e.g. gas-01=sparkplug,hz-01/gw2=lp")
	addFleetFlags(cmd, &fleetFile, &sites, &sensorCount)
	cmd.AddCommand(newSimRun(g), newSimScore(), newSimLoad(g))
	return cmd
}

// setFormats applies --format and --formats to fleet.
func setFormats(fleet *simulator.Fleet, format string, formats []string) error {
	ff, err := simulator.ParseFormat(format)
	if err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	fleet.Format = ff
	for _, kv := range formats {
		key, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("--formats: %q is not site[/gateway]=format", kv)
		}
		ff, err := simulator.ParseFormat(v)
		if err != nil {
			return fmt.Errorf("--formats: %s: %w", key, err)
		}
		if fleet.Formats == nil {
			fleet.Formats = map[string]simulator.Format{}
		}
		fleet.Formats[key] = ff
	}
	return nil
}
