package main

import (
	"time"

	"github.com/riskmon/riskmon/internal/simrun"
	"github.com/spf13/cobra"
)

func newSimLoad(g *globals) *cobra.Command {
	o := simrun.LoadOptions{}
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Publish a steady reading rate from many gateways, with a progress bar",
		Long: `load plays --gateways gateways of --sensors-per-gateway sensors each, every
gateway publishing all its sensors once per interval, the interval chosen
so the fleet sends --rate readings per second, for --for. Values are the
normal signals of the simulator: no alert should fire. Unlike 'bench' it
paces the readings instead of publishing as fast as the broker takes them,
and it runs against any broker.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := simrun.Load(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), newLogger(logLevel(g, "warn")), o)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Broker, "broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	f.IntVar(&o.Gateways, "gateways", 10, "gateways, one MQTT connection each")
	f.IntVar(&o.SensorsPerGateway, "sensors-per-gateway", 20, "sensors per gateway, all in each batch")
	f.Float64Var(&o.Rate, "rate", 1000, "readings per second over the whole fleet")
	f.DurationVar(&o.Duration, "for", time.Minute, "how long to publish")
	f.StringVar(&o.RegistryOut, "registry-out", "", "write the load fleet's registry (YAML) here, for 'serve'")
	f.BoolVar(&o.Progress, "progress", true, "show a progress bar on stderr")
	f.StringVar(&o.Format, "format", "json", "payload format of every gateway: json, lp or sparkplug")
	return cmd
}
