package simulator

import (
	"errors"
	"fmt"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// GasLeak is an incident on one sensor: from Start after the run began,
// the value climbs in a straight line from the sensor's baseline to Peak
// over RampUp, stays at Peak for Hold, and falls back to the baseline over
// RampDown. While it lasts it replaces the sensor's noisy signal, so the
// times it crosses each setpoint are exact ground truth. Despite the name
// it fits any ramp: a falling Peak models an oxygen deficiency or a
// dropping phreatic line.
type GasLeak struct {
	Site     string        `yaml:"site"`
	Sensor   string        `yaml:"sensor"`
	Start    time.Duration `yaml:"start"`
	RampUp   time.Duration `yaml:"ramp_up"`
	Hold     time.Duration `yaml:"hold"`
	RampDown time.Duration `yaml:"ramp_down"`
	Peak     float64       `yaml:"peak"`
}

// End is the elapsed time at which the leak is over.
func (g GasLeak) End() time.Duration { return g.Start + g.RampUp + g.Hold + g.RampDown }

// Active reports whether the leak shapes the value at elapsed.
func (g GasLeak) Active(elapsed time.Duration) bool {
	return elapsed >= g.Start && elapsed < g.End()
}

// Validate checks that the leak's phases make sense.
func (g GasLeak) Validate() error {
	var errs []error
	if g.Site == "" || g.Sensor == "" {
		errs = append(errs, errors.New("site and sensor are required"))
	}
	if g.Start < 0 || g.RampUp < 0 || g.Hold < 0 || g.RampDown < 0 {
		errs = append(errs, errors.New("start, ramp up, hold and ramp down must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gas leak %s/%s: %w", g.Site, g.Sensor, err)
	}
	return nil
}

// ValueAt is the leak's value at elapsed time since the run start, for a
// sensor whose normal value is baseline. Outside the leak it is baseline.
func (g GasLeak) ValueAt(elapsed time.Duration, baseline float64) float64 {
	if !g.Active(elapsed) {
		return baseline
	}
	t := elapsed - g.Start
	switch {
	case t < g.RampUp:
		return baseline + (g.Peak-baseline)*float64(t)/float64(g.RampUp)
	case t < g.RampUp+g.Hold:
		return g.Peak
	default:
		left := g.RampUp + g.Hold + g.RampDown - t
		return baseline + (g.Peak-baseline)*float64(left)/float64(g.RampDown)
	}
}

// Crossing is when a leak's ramp passes one setpoint: the ground truth an
// alerting engine is scored against.
type Crossing struct {
	Setpoint sensors.Setpoint
	// Up is when the rising ramp reaches the setpoint value, so a reading
	// at or after it trips the setpoint.
	Up time.Duration
	// Down is when the falling ramp passes back over the setpoint value.
	Down time.Duration
	// Clear is when the falling ramp passes the restore value, where an
	// alert with hysteresis ends. It is End when the ramp never gets back
	// past the restore value.
	Clear time.Duration
}

// Crossings lists, in setpoint order, the setpoints the leak trips for a
// sensor whose normal value is baseline, with the moments it crosses them.
// setpoints are the sensor's effective setpoints, with restore values
// resolved. Setpoints the ramp does not reach are left out.
func (g GasLeak) Crossings(baseline float64, setpoints []sensors.Setpoint) []Crossing {
	var out []Crossing
	if g.Peak == baseline {
		return nil
	}
	rampDownAt := g.Start + g.RampUp + g.Hold
	// frac is how far along the ramp from baseline to Peak v lies.
	frac := func(v float64) float64 { return (v - baseline) / (g.Peak - baseline) }
	at := func(d time.Duration, f float64) time.Duration { return time.Duration(float64(d) * f) }
	for _, sp := range setpoints {
		if !sp.Trips(g.Peak) || sp.Trips(baseline) {
			continue
		}
		f := frac(sp.Value)
		c := Crossing{
			Setpoint: sp,
			Up:       g.Start + at(g.RampUp, f),
			Down:     rampDownAt + at(g.RampDown, 1-f),
			Clear:    g.End(),
		}
		if fc := frac(sp.Clear); fc > 0 && fc <= 1 {
			c.Clear = rampDownAt + at(g.RampDown, 1-fc)
		}
		out = append(out, c)
	}
	return out
}
