package simulator

import (
	"fmt"
	"math"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// Model is what a kind's signal looks like in normal operation: a
// baseline plus a daily cycle, a slow drift and a bounded random walk,
// with Gaussian noise on top, quantized to the instrument's resolution.
// Every part is optional; the zero value of a part turns it off.
type Model struct {
	// Typical is the usual value when HasTypical; otherwise the baseline
	// is derived from the sensor's design value or setpoints.
	Typical    float64 `yaml:"typical"`
	HasTypical bool    `yaml:"-"`
	// Noise is the standard deviation of the measurement noise, which
	// is truncated at four standard deviations.
	Noise float64 `yaml:"noise"`
	// Decimals is the instrument's resolution as digits after the point.
	Decimals int     `yaml:"decimals"`
	Diurnal  Diurnal `yaml:"diurnal"`
	Drift    Drift   `yaml:"drift"`
	Walk     Walk    `yaml:"walk"`
}

// Diurnal is a daily cycle: the value swings by Amplitude either side of
// the baseline, highest at Peak local solar time (a negative Amplitude
// makes Peak the lowest point, as line pressure is at the evening demand
// peak). Local solar time follows the site's longitude (Place.Lon; 120°E,
// the China Standard Time meridian, when the fleet gives none).
type Diurnal struct {
	Amplitude float64       `yaml:"amplitude"`
	Peak      time.Duration `yaml:"peak"`
}

// Drift is a slow drift, as a tank level drawn down and topped up or an
// element's zero wandering: the value moves at RatePerHour and turns back
// whenever it is Span away from the baseline, so it never leaves the band
// baseline ± Span. Each sensor starts at its own point of the cycle.
type Drift struct {
	RatePerHour float64 `yaml:"rate_per_hour"`
	Span        float64 `yaml:"span"`
}

// Walk is a mean-reverting random walk (a discrete Ornstein–Uhlenbeck
// process) sampled every Step and interpolated linearly in between: over
// times much shorter than Tau it wanders like a random walk, its variance
// growing with time, and it settles at a standard deviation of Sigma
// around the baseline, never further than four Sigma. A pond's water
// level or a line's flow moves like this.
type Walk struct {
	Sigma float64       `yaml:"sigma"`
	Tau   time.Duration `yaml:"tau"`
	Step  time.Duration `yaml:"step"`
}

func (d Diurnal) on() bool { return d.Amplitude != 0 }
func (d Drift) on() bool   { return d.RatePerHour > 0 && d.Span > 0 }
func (w Walk) on() bool    { return w.Sigma > 0 && w.Tau > 0 && w.Step > 0 }

// Validate checks the model's parameters.
func (m Model) Validate() error {
	// A NaN or infinity in any part turns every reading into NaN.
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"typical", m.Typical},
		{"noise", m.Noise},
		{"diurnal amplitude", m.Diurnal.Amplitude},
		{"drift rate_per_hour", m.Drift.RatePerHour},
		{"drift span", m.Drift.Span},
		{"walk sigma", m.Walk.Sigma},
	} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("%s %g must be a finite number", f.name, f.v)
		}
	}
	switch {
	case m.Noise < 0:
		return fmt.Errorf("noise %g must not be negative", m.Noise)
	case m.Decimals < 0 || m.Decimals > 9:
		return fmt.Errorf("decimals %d must be 0..9", m.Decimals)
	case m.Diurnal.Peak < 0 || m.Diurnal.Peak >= 24*time.Hour:
		return fmt.Errorf("diurnal peak %s must be a time of day (0s..24h)", m.Diurnal.Peak)
	case m.Drift.RatePerHour < 0 || m.Drift.Span < 0:
		return fmt.Errorf("drift rate_per_hour and span must not be negative")
	case m.Walk.Sigma < 0 || m.Walk.Tau < 0 || m.Walk.Step < 0:
		return fmt.Errorf("walk sigma, tau and step must not be negative")
	case m.Walk.Sigma > 0 && (m.Walk.Tau == 0 || m.Walk.Step == 0):
		return fmt.Errorf("walk needs tau and step with its sigma")
	case m.Walk.Step > m.Walk.Tau && m.Walk.Sigma > 0:
		return fmt.Errorf("walk step %s must not be longer than its tau %s", m.Walk.Step, m.Walk.Tau)
	}
	return nil
}

func typical(v, sigma float64, decimals int) Model {
	return Model{Typical: v, HasTypical: true, Noise: sigma, Decimals: decimals}
}

func designed(sigma float64, decimals int) Model {
	return Model{Noise: sigma, Decimals: decimals}
}

// KindModel is the default normal-operation model of a catalog kind.
// Values are rules of thumb for clean air and steady processes; kinds
// whose operating point is a matter of design (levels, pressures) have no
// typical value and sit in the middle of their setpoint band instead.
// Temperatures follow the day, tank levels drift as product is drawn and
// topped up, the slow tailings quantities and flows wander; gas
// concentrations in clean air are flat apart from noise. It is a plain
// data table, one case per shipped kind; other kinds get derivedModel.
func KindModel(k *sensors.Kind) Model {
	switch k.ID {
	case "combustible_gas", "tunnel_gas":
		return typical(0.6, 0.3, 1)
	case "combustible_gas_openpath":
		return typical(0.05, 0.02, 2)
	case "oxygen":
		return typical(20.9, 0.05, 1)
	case "h2s":
		return typical(0.5, 0.2, 1)
	case "co", "nh3":
		return typical(2, 0.5, 1)
	case "cl2":
		return typical(0.05, 0.02, 2)
	case "so2":
		return typical(0.3, 0.1, 1)
	case "tank_level":
		m := designed(0.004, 3)
		// A working tank is drawn down and topped up: 15 cm/h within
		// ±60 cm of its operating level.
		m.Drift = Drift{RatePerHour: 0.15, Span: 0.6}
		return m
	case "tank_temperature":
		// Product in a tank in the sun: ±3 °C a day, warmest mid-afternoon.
		m := typical(25, 0.2, 1)
		m.Diurnal = Diurnal{Amplitude: 3, Peak: 15 * time.Hour}
		return m
	case "pressure":
		m := designed(0.003, 3)
		m.Walk = Walk{Sigma: 0.01, Tau: time.Hour, Step: 5 * time.Minute}
		return m
	case "flow":
		m := designed(150, 0)
		m.Walk = Walk{Sigma: 400, Tau: 4 * time.Hour, Step: 10 * time.Minute}
		return m
	case "ch4":
		return typical(0.2, 0.02, 2)
	case "co_mine":
		return typical(3, 0.5, 0)
	case "o2_mine":
		return typical(20.8, 0.05, 1)
	case "co2_mine":
		return typical(0.08, 0.01, 2)
	case "wind_speed":
		return typical(1.8, 0.05, 2)
	case "mine_temperature":
		// Intake air still carries a damped daily cycle underground.
		m := typical(22, 0.1, 1)
		m.Diurnal = Diurnal{Amplitude: 0.5, Peak: 16 * time.Hour}
		return m
	case "dust":
		return typical(6, 0.8, 1)
	case "pond_water_level":
		// Inflow, decant and evaporation move a pond by centimetres a
		// day.
		m := designed(0.01, 2)
		m.Walk = Walk{Sigma: 0.08, Tau: 48 * time.Hour, Step: time.Hour}
		return m
	case "dry_beach_length":
		m := designed(0.5, 1)
		m.Walk = Walk{Sigma: 1.5, Tau: 48 * time.Hour, Step: time.Hour}
		return m
	case "phreatic_depth":
		m := designed(0.02, 2)
		m.Walk = Walk{Sigma: 0.1, Tau: 72 * time.Hour, Step: time.Hour}
		return m
	case "dam_displacement":
		return typical(5, 0.4, 1)
	case "rainfall":
		return typical(0, 0.2, 1)
	case "line_pressure":
		// Demand is lowest before dawn, so network pressure is highest.
		m := designed(0.0008, 4)
		m.Diurnal = Diurnal{Amplitude: 0.004, Peak: 4 * time.Hour}
		return m
	case "manhole_tilt":
		return typical(0.5, 0.2, 1)
	}
	return derivedModel(k)
}

// derivedModel is the model of a kind added to the catalog later, which
// KindModel has no row for: noise well inside its deadband, resolution a
// tenth of it.
func derivedModel(k *sensors.Kind) Model {
	m := designed(k.Deadband/4, 2)
	if k.Deadband > 0 {
		m.Decimals = max(0, int(math.Ceil(-math.Log10(k.Deadband/10))))
	} else {
		m.Noise = (k.Max - k.Min) / 1000
	}
	return m
}

// slopeBudget is the most a kind's slow parts (cycle, drift, walk)
// together may change per hour: half a deadband per forecast window of
// eight reporting intervals (at least two minutes). A normal process
// moving faster than that would be a trend an operator is warned of.
func slopeBudget(k *sensors.Kind) float64 {
	win := max(2*time.Minute, 8*k.Interval)
	return k.Deadband / 2 / win.Hours()
}

// walkWindow is how many knots a walk keeps: readings are asked for in
// increasing time, so only the recent knots are needed and a run without
// an end holds a bounded amount (at a 5-minute step, three and a half
// days). A time before the window is answered by drawing the knots again
// from the start of the stream.
const walkWindow = 1024

// walk is the random-walk part of one signal: knots every step, drawn in
// order from the signal's own stream, so the value at any time is a pure
// function of the seed whatever the order of the questions.
type walk struct {
	w       Walk
	a, sd   float64 // AR(1) coefficient and innovation deviation per step
	bound   float64 // |x| never exceeds it
	maxStep float64 // |x[k+1] − x[k]| never exceeds it
	// knots holds knot first onwards, at most 2·window of them.
	window   int
	knots    []float64
	first    int
	start    float64 // knot 0
	stream   func() func() float64
	nextNorm func() float64
}

// newWalk builds a walk whose knots are drawn from stream(), which must
// return a fresh stream in the same state each time it is called.
func newWalk(w Walk, maxStep float64, stream func() func() float64) *walk {
	a := math.Exp(-w.Step.Seconds() / w.Tau.Seconds())
	wk := &walk{w: w, a: a, sd: w.Sigma * math.Sqrt(1-a*a), bound: truncZ * w.Sigma, maxStep: maxStep, window: walkWindow, stream: stream}
	wk.rewind()
	wk.start = wk.knots[0]
	return wk
}

// rewind starts the knots again from the beginning of the stream.
func (wk *walk) rewind() {
	wk.nextNorm = wk.stream()
	wk.first = 0
	// Start from the walk's stationary spread, so a run starts anywhere
	// a long-running process could be.
	wk.knots = append(wk.knots[:0], wk.w.Sigma*wk.nextNorm())
}

func (wk *walk) at(elapsed time.Duration) float64 {
	if elapsed < 0 {
		return wk.start
	}
	k := int(elapsed / wk.w.Step)
	if k < wk.first {
		wk.rewind()
	}
	for wk.first+len(wk.knots) <= k+1 {
		x := wk.knots[len(wk.knots)-1]
		next := wk.a*x + wk.sd*wk.nextNorm()
		next = x + math.Max(-wk.maxStep, math.Min(wk.maxStep, next-x))
		if len(wk.knots) >= 2*wk.window {
			// Keep the newest window knots in the same array.
			n := copy(wk.knots, wk.knots[len(wk.knots)-wk.window:])
			wk.first += len(wk.knots) - n
			wk.knots = wk.knots[:n]
		}
		wk.knots = append(wk.knots, math.Max(-wk.bound, math.Min(wk.bound, next)))
	}
	i := k - wk.first
	f := float64(elapsed-time.Duration(k)*wk.w.Step) / float64(wk.w.Step)
	return wk.knots[i] + (wk.knots[i+1]-wk.knots[i])*f
}
