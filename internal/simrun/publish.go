package simrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
)

// PublishOptions configure 'sim': a fleet published until Duration is
// over or ctx ends, with at most one scripted gas leak.
type PublishOptions struct {
	Broker string
	Fleet  simulator.Fleet
	// Format and Formats set the fleet's payload formats, as SetFormats.
	Format      string
	Formats     []string
	Interval    time.Duration
	Speed       float64
	Duration    time.Duration // zero: until ctx ends
	RegistryOut string
	// LeakAt is "site/sensor" of the leak, empty for none.
	LeakAt    string
	LeakStart time.Duration
	LeakPeak  float64
}

// Publish publishes o.Fleet and prints what it published. Its end by
// Duration or ctx is no error.
func Publish(ctx context.Context, out io.Writer, log *slog.Logger, o PublishOptions) error {
	fleet := o.Fleet
	if err := SetFormats(&fleet, o.Format, o.Formats); err != nil {
		return err
	}
	reg, err := fleet.Registry(sensors.DefaultCatalog())
	if err != nil {
		return err
	}
	if o.RegistryOut != "" {
		if err := reg.WriteYAMLFile(o.RegistryOut); err != nil {
			return err
		}
		fmt.Fprintln(out, "registry written to", o.RegistryOut)
	}
	var incidents []simulator.GasLeak
	if o.LeakAt != "" {
		site, sensor, ok := strings.Cut(o.LeakAt, "/")
		if !ok {
			return errors.New("--leak wants site/sensor")
		}
		incidents = append(incidents, simulator.GasLeak{Site: site, Sensor: sensor, Peak: o.LeakPeak,
			Start: o.LeakStart, RampUp: time.Minute, Hold: 30 * time.Second, RampDown: time.Minute})
	}
	if o.Duration > 0 {
		var cancel func()
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	pub, err := simulator.NewPublisher(simulator.Options{Broker: o.Broker, Fleet: fleet, Incidents: incidents,
		Interval: o.Interval, Speed: o.Speed, Seed: 1, Logger: log})
	if err != nil {
		return err
	}
	st, err := pub.Run(ctx)
	fmt.Fprintf(out, "published %d readings in %d messages (%d failed attempts)\n", st.Readings, st.Messages, st.Failed)
	if err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// SetFormats sets every gateway's payload format to format, then the
// site or site/gateway ones formats names ("gas-01=sparkplug").
func SetFormats(fleet *simulator.Fleet, format string, formats []string) error {
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
