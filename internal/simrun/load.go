package simrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
)

// LoadOptions configure a paced load run.
type LoadOptions struct {
	Broker            string
	Gateways          int
	SensorsPerGateway int
	Rate              float64 // readings per second over the whole fleet
	Duration          time.Duration
	RegistryOut       string
	Progress          bool   // show the progress bar
	Format            string // json, lp or sparkplug; empty means json
}

// LoadInterval is the batch interval that gives the fleet rate readings
// per second.
func LoadInterval(gateways, perGateway int, rate float64) (time.Duration, error) {
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

// Load publishes o.Rate readings a second for o.Duration, with a progress
// bar on progress, and prints a summary on out. An interrupted run is no
// error: the summary says how far it got.
func Load(ctx context.Context, out, progress io.Writer, log *slog.Logger, o LoadOptions) (simulator.Stats, error) {
	iv, err := LoadInterval(o.Gateways, o.SensorsPerGateway, o.Rate)
	if err != nil {
		return simulator.Stats{}, err
	}
	if o.Duration <= 0 {
		return simulator.Stats{}, errors.New("--for must be positive")
	}
	fleet, err := loadFleet(out, o)
	if err != nil {
		return simulator.Stats{}, err
	}
	// The run's last batch goes out at elapsed --for, so stop one
	// interval short to send rate × for readings.
	d := max(o.Duration-iv, 0)
	pub, err := simulator.NewPublisher(simulator.Options{Broker: o.Broker, Fleet: fleet, Interval: iv,
		Speed: 1, Seed: 1, Duration: d, Logger: log.With("component", "load")})
	if err != nil {
		return simulator.Stats{}, err
	}
	ticks := int64(d/iv) + 1
	total := ticks * int64(o.Gateways*o.SensorsPerGateway)
	fmt.Fprintf(out, "load: %d gateways × %d sensors (%s), a batch every %s per gateway: %.0f readings/s for %s (%d readings)\n",
		o.Gateways, o.SensorsPerGateway, fleet.Format, iv, o.Rate, o.Duration, total)

	wallStart := time.Now()
	st, err := runWithBar(ctx, pub, progress, o.Progress, total)
	elapsed := time.Since(wallStart)

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

// loadFleet is the load's fleet in o.Format, its registry written to
// o.RegistryOut when asked.
func loadFleet(out io.Writer, o LoadOptions) (simulator.Fleet, error) {
	ff, err := simulator.ParseFormat(o.Format)
	if err != nil {
		return simulator.Fleet{}, fmt.Errorf("--format: %w", err)
	}
	fleet := simulator.GatewayFleet(o.Gateways, o.SensorsPerGateway)
	fleet.Format = ff
	if o.RegistryOut != "" {
		reg, err := fleet.Registry(sensors.DefaultCatalog())
		if err != nil {
			return simulator.Fleet{}, err
		}
		if err := reg.WriteYAMLFile(o.RegistryOut); err != nil {
			return simulator.Fleet{}, err
		}
		fmt.Fprintln(out, "registry written to", o.RegistryOut)
	}
	return fleet, nil
}

// runWithBar runs pub, moving a progress bar of total readings on w from
// its progress four times a second.
func runWithBar(ctx context.Context, pub *simulator.Publisher, w io.Writer, visible bool, total int64) (simulator.Stats, error) {
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetVisibility(visible),
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
	st, err := pub.Run(ctx)
	close(done)
	<-watched
	_ = bar.Set64(st.Readings)
	_ = bar.Finish()
	return st, err
}
