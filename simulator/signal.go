package simulator

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"

	"github.com/riskmon/riskmon/sensors"
)

// truncZ bounds the noise at this many standard deviations. Truncating
// makes "noise never trips a setpoint" a guarantee rather than odds.
const truncZ = 4

// profile is what a kind's signal looks like in normal operation.
type profile struct {
	typical    float64 // usual value; only used when hasTypical
	hasTypical bool
	sigma      float64 // noise standard deviation, in the kind's unit
	decimals   int     // instrument resolution: digits after the point
}

func typical(v, sigma float64, decimals int) profile {
	return profile{typical: v, hasTypical: true, sigma: sigma, decimals: decimals}
}

func designed(sigma float64, decimals int) profile {
	return profile{sigma: sigma, decimals: decimals}
}

// kindProfile gives the normal-operation shape of the catalog's kinds.
// Values are rules of thumb for clean air and steady processes; kinds
// whose operating point is a matter of design (levels, pressures) have no
// typical value and sit in the middle of their setpoint band instead.
func kindProfile(k *sensors.Kind) profile {
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
		return designed(0.004, 3)
	case "tank_temperature":
		return typical(25, 0.2, 1)
	case "pressure":
		return designed(0.003, 3)
	case "flow":
		return designed(150, 0)
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
		return typical(22, 0.1, 1)
	case "dust":
		return typical(6, 0.8, 1)
	case "pond_water_level":
		return designed(0.01, 2)
	case "dry_beach_length":
		return designed(0.5, 1)
	case "phreatic_depth":
		return designed(0.02, 2)
	case "dam_displacement":
		return typical(5, 0.4, 1)
	case "rainfall":
		return typical(0, 0.2, 1)
	case "line_pressure":
		return designed(0.0008, 4)
	case "manhole_tilt":
		return typical(0.5, 0.2, 1)
	}
	// A kind added to the catalog later: noise well inside its deadband,
	// resolution a tenth of it.
	p := designed(k.Deadband/4, 2)
	if k.Deadband > 0 {
		p.decimals = max(0, int(math.Ceil(-math.Log10(k.Deadband/10))))
	} else {
		p.sigma = (k.Max - k.Min) / 1000
	}
	return p
}

// Signal is one sensor's simulated measurement in normal operation: a
// steady baseline plus Gaussian noise truncated at four sigma, quantized
// to the instrument's resolution and kept inside the physical range. The
// noise is small enough that it never reaches the restore value of any
// setpoint, so every alert in a simulation comes from an incident.
type Signal struct {
	baseline  float64
	sigma     float64
	decimals  int
	scale     float64 // 10^decimals
	min, max  float64 // physical range
	low, high float64 // safe band: the restore values of the nearest setpoints
	rng       *rand.Rand
}

// NewSignal builds the signal of a sensor of kind k with the given
// setpoints (a sensor's effective setpoints; unresolved restore values are
// resolved against k's deadband). nominal is the design operating value,
// or NaN to derive one: the kind's typical value, the middle of the band
// between low and high setpoints, or half way to a one-sided setpoint.
// The noise is a PCG stream seeded by seed and key (the sensor's
// "site/sensor"), so every sensor has its own stream and a seed replays
// the same values.
func NewSignal(k *sensors.Kind, setpoints []sensors.Setpoint, nominal float64, seed int64, key string) (*Signal, error) {
	p := kindProfile(k)
	s := &Signal{
		decimals: p.decimals,
		scale:    math.Pow10(p.decimals),
		min:      k.Min,
		max:      k.Max,
		low:      math.Inf(-1),
		high:     math.Inf(1),
	}
	for _, sp := range k.Resolve(setpoints) {
		if sp.Direction == sensors.Below {
			s.low = math.Max(s.low, sp.Clear)
		} else {
			s.high = math.Min(s.high, sp.Clear)
		}
	}
	// The band the value may live in: the safe band cut to the range.
	lo, hi := math.Max(s.low, k.Min), math.Min(s.high, k.Max)
	if !(lo < hi) {
		return nil, fmt.Errorf("simulator: kind %s: setpoints leave no safe value in %g..%g", k.ID, k.Min, k.Max)
	}
	inside := func(v float64) bool { return !math.IsNaN(v) && v > s.low && v < s.high && v >= k.Min && v <= k.Max }

	base := s.round(nominal)
	if !inside(base) && p.hasTypical {
		base = s.round(p.typical)
	}
	if !inside(base) {
		base = s.round(fallbackBaseline(k, s.low, s.high))
	}
	if !inside(base) {
		base = s.round((lo + hi) / 2)
	}
	if !inside(base) {
		return nil, fmt.Errorf("simulator: kind %s: safe band %g..%g is narrower than the resolution", k.ID, s.low, s.high)
	}
	s.baseline = base

	// Keep the largest excursion (truncZ sigma plus half a resolution
	// step of rounding) within half the distance to the nearest restore
	// value.
	margin := math.Min(base-s.low, s.high-base) - 0.5/s.scale
	s.sigma = math.Max(0, math.Min(p.sigma, margin/(2*truncZ)))

	h := fnv.New64a()
	h.Write([]byte(key))
	s.rng = rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
	return s, nil
}

// fallbackBaseline derives an operating value from setpoints alone.
func fallbackBaseline(k *sensors.Kind, low, high float64) float64 {
	lowSet, highSet := !math.IsInf(low, -1), !math.IsInf(high, 1)
	switch {
	case lowSet && highSet:
		return (low + high) / 2
	case highSet:
		// Half way from the natural zero (or the range floor) to the
		// lowest restore value.
		floor := k.Min
		if floor < 0 && high > 0 {
			floor = 0
		}
		return floor + (high-floor)/2
	case lowSet:
		if low > 0 {
			return low * 1.5
		}
		return (low + k.Max) / 2
	case k.Min < 0 && k.Max > 0:
		return 0
	default:
		return k.Min + (k.Max-k.Min)/10
	}
}

// Next returns the next sample.
func (s *Signal) Next() float64 {
	z := s.rng.NormFloat64()
	for math.Abs(z) > truncZ {
		z = s.rng.NormFloat64()
	}
	return s.clamp(s.round(s.baseline + s.sigma*z))
}

// Baseline is the value the signal varies around.
func (s *Signal) Baseline() float64 { return s.baseline }

// Sigma is the noise's standard deviation before truncation.
func (s *Signal) Sigma() float64 { return s.sigma }

// Decimals is the instrument resolution as digits after the point; the
// encoder prints values with exactly this many.
func (s *Signal) Decimals() int { return s.decimals }

// SafeBand returns the restore values of the nearest low and high
// setpoints; an open side is an infinity. Noise alone stays strictly
// between them.
func (s *Signal) SafeBand() (low, high float64) { return s.low, s.high }

// Quantize rounds v to the instrument resolution and clamps it to the
// physical range, as a transmitter would report it.
func (s *Signal) Quantize(v float64) float64 { return s.clamp(s.round(v)) }

// quantizeToward quantizes an incident value by cutting toward the
// baseline rather than rounding. A setpoint on the resolution grid is then
// reached at the same moment as by the exact ramp, so ground truth holds
// to the sample.
func (s *Signal) quantizeToward(v float64) float64 {
	if v >= s.baseline {
		v = math.Floor(v*s.scale+1e-9) / s.scale
	} else {
		v = math.Ceil(v*s.scale-1e-9) / s.scale
	}
	return s.clamp(v)
}

// round divides by an exact power of ten so the result is the float
// nearest the decimal, and prints short.
func (s *Signal) round(v float64) float64 { return math.Round(v*s.scale) / s.scale }

func (s *Signal) clamp(v float64) float64 {
	// Adding zero turns -0 into 0, which would otherwise print as "-0.0".
	return math.Min(math.Max(v, s.min), s.max) + 0
}

// Signal builds the signal of a registry sensor of this fleet, using its
// design operating value from Nominal when there is one.
func (f Fleet) Signal(s *sensors.Sensor, seed int64) (*Signal, error) {
	k := s.KindInfo()
	if k == nil {
		return nil, fmt.Errorf("simulator: sensor %s/%s has no kind: build it with a registry", s.Site, s.ID)
	}
	key := s.Site + "/" + s.ID
	nominal, ok := f.Nominal[key]
	if !ok {
		nominal = math.NaN()
	}
	sig, err := NewSignal(k, s.EffectiveSetpoints(), nominal, seed, key)
	if err != nil {
		return nil, fmt.Errorf("sensor %s: %w", key, err)
	}
	return sig, nil
}
