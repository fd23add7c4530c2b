package main

import (
	"github.com/riskmon/riskmon/internal/simrun"
	"github.com/spf13/cobra"
)

func newSimRun(g *globals) *cobra.Command {
	o := simrun.PlayOptions{}
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
			_, _, err := simrun.Play(cmd.Context(), cmd.OutOrStdout(), newLogger(logLevel(g, "info")), o)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Scenario, "scenario", "", "scenario file (YAML), e.g. simulator/scenarios/gas-leak.yaml")
	f.StringVar(&o.Broker, "broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	f.Float64Var(&o.Speed, "speed", 1, "device time runs this many times faster than the wall clock (inf: as fast as the broker takes it)")
	f.StringVar(&o.Truth, "truth", "", "write the ground truth (JSON lines) here")
	f.StringVar(&o.RegistryOut, "registry-out", "", "write the scenario fleet's registry (YAML) here, for 'serve'")
	f.BoolVar(&o.DryRun, "dry-run", false, "check the scenario, write --registry-out and --truth, and exit without publishing")
	addFleetFlags(cmd, &o.Fleet, &o.Sites, &o.Sensors)
	_ = cmd.MarkFlagRequired("scenario")
	return cmd
}
