package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

type simLoadOptions struct {
	broker            string
	gateways          int
	sensorsPerGateway int
	rate              float64
	duration          time.Duration
	registryOut       string
	progress          bool
	format            string // json, lp or sparkplug; empty means json
}

func newSimLoad(g *globals) *cobra.Command {
	o := simLoadOptions{}
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
			level := "warn"
			if g.logLevel != "" {
				level = g.logLevel
			}
			_, err := runLoad(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), newLogger(level), o)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.broker, "broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	f.IntVar(&o.gateways, "gateways", 10, "gateways, one MQTT connection each")
	f.IntVar(&o.sensorsPerGateway, "sensors-per-gateway", 20, "sensors per gateway, all in each batch")
	f.Float64Var(&o.rate, "rate", 1000, "readings per second over the whole fleet")
	f.DurationVar(&o.duration, "for", time.Minute, "how long to publish")
	f.StringVar(&o.registryOut, "registry-out", "", "write the load fleet's registry (YAML) here, for 'serve'")
	f.BoolVar(&o.progress, "progress", true, "show a progress bar on stderr")
	f.StringVar(&o.format, "format", "json", "payload format of every gateway: json, lp or sparkplug")
	return cmd
}

// loadInterval is the batch interval that gives the fleet rate readings
// per second.
func loadInterval(gateways, perGateway int, rate float64) (time.Duration, error) {
	if gateways <= 0 || perGateway <= 0 || !(rate > 0) {
		return 0, errors.New("--gateways, --sensors-per-gateway and --rate must be positive")
	}
	iv := time.Duration(float64(gateways*perGateway) / rate * float64(time.Second))
	// Batch timestamps are milliseconds: two batches of a gateway in one
	// millisecond would overwrite each other's points in storage.
	if iv < time.Millisecond {
		return 0, fmt.Errorf("%g readings/s from %d gateways of %d sensors needs batches every %s; add gateways or sensors (at most 1 batch per millisecond and gateway)",
			rate, gateways, perGateway, iv)
	}
	return iv, nil
}

func runLoad(ctx context.Context, out, progress io.Writer, log *slog.Logger, o simLoadOptions) (simulator.Stats, error) {
	iv, err := loadInterval(o.gateways, o.sensorsPerGateway, o.rate)
	if err != nil {
		return simulator.Stats{}, err
	}
	if o.duration <= 0 {
		return simulator.Stats{}, errors.New("--for must be positive")
	}
	ff, err := simulator.ParseFormat(o.format)
	if err != nil {
		return simulator.Stats{}, fmt.Errorf("--format: %w", err)
	}
	fleet := simulator.GatewayFleet(o.gateways, o.sensorsPerGateway)
	fleet.Format = ff
	if o.registryOut != "" {
		reg, err := fleet.Registry(sensors.DefaultCatalog())
		if err != nil {
			return simulator.Stats{}, err
		}
		if err := reg.WriteYAMLFile(o.registryOut); err != nil {
			return simulator.Stats{}, err
		}
		fmt.Fprintln(out, "registry written to", o.registryOut)
	}
	// The run's last batch goes out at elapsed --for, so stop one
	// interval short to send rate × for readings.
	d := max(o.duration-iv, 0)
	pub, err := simulator.NewPublisher(simulator.Options{Broker: o.broker, Fleet: fleet, Interval: iv,
		Speed: 1, Seed: 1, Duration: d, Logger: log.With("component", "load")})
	if err != nil {
		return simulator.Stats{}, err
	}
	ticks := int64(d/iv) + 1
	total := ticks * int64(o.gateways*o.sensorsPerGateway)
	fmt.Fprintf(out, "load: %d gateways × %d sensors (%s), a batch every %s per gateway: %.0f readings/s for %s (%d readings)\n",
		o.gateways, o.sensorsPerGateway, ff, iv, o.rate, o.duration, total)

	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(progress),
		progressbar.OptionSetVisibility(o.progress),
		progressbar.OptionSetDescription("readings"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("readings"),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
	)
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = bar.Set64(pub.Progress().Readings)
			}
		}
	}()
	wallStart := time.Now()
	st, err := pub.Run(ctx)
	elapsed := time.Since(wallStart)
	close(done)
	<-watched
	_ = bar.Set64(st.Readings)
	_ = bar.Finish()

	fmt.Fprintf(out, `load summary
  readings       %d of %d (%.0f/s over %s)
  messages       %d
  failed         %d (publishes sent again)
  stalled        %d (waits past the publish timeout)
  unconfirmed    %d
`, st.Readings, total, float64(st.Readings)/elapsed.Seconds(), elapsed.Round(time.Millisecond),
		st.Messages, st.Failed, st.Stalled, st.Unconfirmed)
	if err != nil {
		if ctx.Err() != nil {
			return st, nil // interrupted: the summary says how far it got
		}
		return st, err
	}
	return st, nil
}
