package main

import (
	"time"

	"github.com/riskmon/riskmon/internal/app/demo"
	"github.com/spf13/cobra"
)

func newDemo(g *globals) *cobra.Command {
	o := demo.Options{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run riskmon on an embedded broker and a local InfluxDB with a simulated fleet",
		Long: `demo starts everything on this machine: the embedded MQTT broker, a local
InfluxDB (influxd from .state/bin, see 'make deps'), the riskmon service and a
simulated fleet of every sector with one scripted gas leak. Without --for it
runs until interrupted; with --for it stops after that long, counts what
reached InfluxDB and exits non-zero if any published reading was lost.

With --cluster N it runs cluster mode on this machine instead: a 3-node NATS
cluster with JetStream and MQTT listeners (nats-server from .state/bin, see
'make deps'), N 'riskmon serve' child processes sharing the sites, InfluxDB,
and a local webhook that counts pages. --chaos (with --for) kills one riskmon
instance with SIGKILL while the leak's alarm is up and one NATS node later,
restarts both, and the summary adds the takeover time; the run exits non-zero
on any lost reading or duplicate page. Files go to STATE-DIR/demo-cluster,
emptied at each start.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo.Run(cmd.Context(), cmd.OutOrStdout(), newLogger(logLevel(g, "info")), o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.Duration, "for", 0, "stop after this long and print a summary (0: run until Ctrl-C)")
	f.StringVar(&o.StateDir, "state-dir", ".state", "folder for the demo's InfluxDB data, broker store and dead letters")
	f.IntVar(&o.SitesPerSector, "sites-per-sector", 1, "simulated sites of each sector")
	f.StringVar(&o.HTTPAddr, "http", "127.0.0.1:9464", "metrics and API listen address (a free port if taken)")
	f.StringVar(&o.BrokerAddr, "broker", "127.0.0.1:1883", "embedded MQTT broker listen address (a free port if taken)")
	f.IntVar(&o.InfluxPort, "influx-port", 8086, "local InfluxDB HTTP port (a free port if taken)")
	f.DurationVar(&o.Interval, "interval", time.Second, "time between two batches of one gateway")
	f.IntVar(&o.Malformed, "malformed", 3, "malformed messages to inject, to show the dead-letter path")
	f.DurationVar(&o.StatusEvery, "status-every", 5*time.Second, "how often to print the status line")
	f.IntVar(&o.Cluster, "cluster", 0, "run this many riskmon instances on a 3-node NATS cluster (0: single node)")
	f.BoolVar(&o.Chaos, "chaos", false, "with --cluster and --for: SIGKILL one instance and one NATS node mid-run, then restart both")
	f.IntVar(&o.Rate, "rate", 0, "with --cluster and --for: publish a 300-sensor fleet at this many readings/s and print the CPU-µs per reading of every process")
	return cmd
}
