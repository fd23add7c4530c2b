package main

import (
	"os"
	"time"

	"github.com/riskmon/riskmon/internal/bench"
	"github.com/spf13/cobra"
)

func newBench(g *globals) *cobra.Command {
	o := bench.Options{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "End-to-end load run: simulator -> broker -> riskmon -> InfluxDB, with cost and alert latency",
		Long: `bench starts a local InfluxDB and a broker (Mosquitto, tuned, when installed;
otherwise the embedded one), runs 'riskmon serve' as a child process, and drives
it with the simulator's load mode while a probe sensor trips and clears an
alarm every --probe-every. It prints readings/s landed in InfluxDB, CPU-µs per
reading and peak RSS of the riskmon process, and publish-to-notification
latency percentiles of the probe alerts. 'bench compare' runs Telegraf beside
it on the same load.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			o.Exe = exe
			return bench.Run(cmd.Context(), cmd.OutOrStdout(), newLogger(logLevel(g, "warn")), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.StateDir, "state-dir", ".state/bench", "working folder (wiped at start)")
	f.Int64Var(&o.Readings, "readings", 2_000_000, "readings to publish")
	f.StringVar(&o.BrokerKind, "broker", "auto", "mosquitto, embedded or auto (mosquitto when installed)")
	f.IntVar(&o.Sites, "sites", 20, "synthetic sites")
	f.IntVar(&o.PerSite, "sensors-per-site", 40, "sensors per synthetic site")
	f.IntVar(&o.Gateways, "gateways", 8, "publishing gateways (one MQTT client each)")
	f.IntVar(&o.Batch, "batch", 10, "readings per message")
	f.IntVar(&o.MaxInFlight, "max-in-flight", 64, "unacknowledged publishes per gateway client")
	f.DurationVar(&o.ProbeEvery, "probe-every", 100*time.Millisecond, "how often the probe sensor changes alarm state")
	f.BoolVar(&o.Replay, "replay", false, "stop InfluxDB during the load, then restart it and measure the spool's replay")
	f.BoolVar(&o.BrokerSavesOnChange, "broker-saves-on-change", false, "Mosquitto saves its database after every 1,000 changes, as shipped, instead of every 60 s")
	cmd.AddCommand(newBenchCompare(g))
	return cmd
}

func newBenchCompare(g *globals) *cobra.Command {
	o := bench.CompareOptions{}
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "riskmon and Telegraf alternately on the same load; one table of what lands and what every process costs",
		Long: `compare runs riskmon and a Telegraf (mqtt_consumer -> influxdb_v2, json_v2)
alternately on the same load: the same publisher, JSON batches at QoS 1 through
Mosquitto into InfluxDB 1.8, all started afresh for every run. It counts what
lands in InfluxDB and samples the CPU time and peak RSS of every process from
/proc, then prints the medians and their ratios. Then, once each: InfluxDB
killed during a fixed-rate load (readings lost, collector CPU while it is
down), and the collector's CPU idle and at a low rate.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			if o.RiskmonExe == "" {
				o.RiskmonExe = exe
			}
			return bench.Compare(cmd.Context(), cmd.OutOrStdout(), newLogger(logLevel(g, "warn")), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.RiskmonExe, "riskmon", "", "riskmon binary to compare, another release say (default: this one)")
	f.StringVar(&o.TelegrafExe, "telegraf", ".state/bin/telegraf", "Telegraf binary built with mqtt_consumer, influxdb_v2 and json_v2")
	f.StringVar(&o.StateDir, "state-dir", ".state/bench-compare", "working folder (wiped at start)")
	f.IntVar(&o.Sites, "sites", 1000, "synthetic sites")
	f.IntVar(&o.PerSite, "sensors-per-site", 20, "sensors per synthetic site")
	f.IntVar(&o.Publishers, "publishers", 4, "publishing connections")
	f.IntVar(&o.Batch, "batch", 10, "readings per message")
	f.IntVar(&o.MaxInFlight, "max-in-flight", 64, "unacknowledged publishes per connection")
	f.Int64Var(&o.Readings, "readings", 2_000_000, "readings per saturating run")
	f.IntVar(&o.Pairs, "pairs", 2, "saturating runs of each collector, alternating")
	f.Float64Var(&o.Rate, "rate", 0, "also run each collector at this fixed offered rate (readings/s); 0 leaves it out")
	f.Float64Var(&o.OutageRate, "outage-rate", 2000, "readings/s offered in the outage run")
	f.DurationVar(&o.OutageLoad, "outage-load", 30*time.Second, "length of the outage run's load")
	f.DurationVar(&o.Outage, "outage", 20*time.Second, "how long InfluxDB stays killed (0 leaves the outage runs out)")
	f.DurationVar(&o.Idle, "idle", 20*time.Second, "how long idle and low-rate CPU are sampled (0 leaves them out)")
	f.Float64Var(&o.LowRate, "low-rate", 50, "the low rate, readings/s")
	f.BoolVar(&o.BrokerSavesOnChange, "broker-saves-on-change", false, "Mosquitto saves its database after every 1,000 changes, as shipped, instead of every 60 s")
	f.StringVar(&o.ProfileDir, "profile", "", "save CPU and heap profiles of riskmon's saturating and fixed-rate runs, and a CPU profile of its low-rate run, into this folder (go tool pprof reads them)")
	f.DurationVar(&o.ProfileFor, "profile-for", 5*time.Second, "length of each CPU profile, taken one second into the load")
	return cmd
}
