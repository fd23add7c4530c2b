package main

import (
	"errors"
	"time"

	"github.com/riskmon/riskmon/internal/simrun"
	"github.com/riskmon/riskmon/simulator"
	"github.com/spf13/cobra"
)

func newSim(g *globals) *cobra.Command {
	var (
		o              simrun.PublishOptions
		sitesPerSector int
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
			o.Fleet = simulator.DemoFleet(sitesPerSector)
			sized, err := simrun.BuildFleet(fleetFile, sites, sensorCount)
			switch {
			case err != nil:
				return err
			case sized != nil && cmd.Flags().Changed("sites-per-sector"):
				return errors.New("give --sites-per-sector or --fleet/--sites/--sensors, not both")
			case sized != nil:
				o.Fleet = *sized
			}
			return simrun.Publish(cmd.Context(), cmd.OutOrStdout(), newLogger(logLevel(g, "info")), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Broker, "broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	f.IntVar(&sitesPerSector, "sites-per-sector", 1, "simulated sites of each sector")
	f.DurationVar(&o.Interval, "interval", 5*time.Second, "device time between two batches of one gateway")
	f.Float64Var(&o.Speed, "speed", 1, "device time runs this many times faster than the wall clock")
	f.DurationVar(&o.Duration, "for", 0, "stop after this long (0: until Ctrl-C)")
	f.StringVar(&o.RegistryOut, "registry-out", "", "write the fleet's registry (YAML) here")
	f.StringVar(&o.LeakAt, "leak", "", "script a gas leak at site/sensor")
	f.DurationVar(&o.LeakStart, "leak-start", 30*time.Second, "when the leak starts")
	f.Float64Var(&o.LeakPeak, "leak-peak", 60, "leak peak value in the sensor's unit")
	f.StringVar(&o.Format, "format", "json", "payload format of every gateway: json, lp or sparkplug")
	f.StringSliceVar(&o.Formats, "formats", nil, "per-site or per-gateway formats, e.g. gas-01=sparkplug,hz-01/gw2=lp")
	addFleetFlags(cmd, &fleetFile, &sites, &sensorCount)
	cmd.AddCommand(newSimRun(g), newSimScore(), newSimLoad(g))
	return cmd
}

// addFleetFlags adds the flags that replace a fleet.
func addFleetFlags(cmd *cobra.Command, file *string, sites, sensors *int) {
	f := cmd.Flags()
	f.StringVar(file, "fleet", "", "fleet file (YAML: site templates by count and where, see simulator/fleets/) instead of the built-in fleet")
	f.IntVar(sites, "sites", 0, "build a fleet of this many sites from the templates, cycling through the sectors")
	f.IntVar(sensors, "sensors", 0, "build a fleet of this many sensors (with --sites: spread over those sites)")
}
