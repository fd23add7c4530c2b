package simulator

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// truncZ bounds the noise at this many standard deviations. Truncating
// makes "noise never trips a setpoint" a guarantee rather than odds.
const truncZ = 4

// Signal is one sensor's simulated measurement in normal operation: its
// Model's baseline, daily cycle, drift and random walk (the level) plus
// Gaussian noise truncated at four sigma, quantized to the instrument's
// resolution and kept inside the physical range. The parts are scaled
// down together until the largest excursion stays within half the
// distance to the restore value of the nearest setpoint, and the slow
// parts until they change by less than half a deadband per forecast
// window, so every alert in a simulation comes from an incident.
type Signal struct {
	model     Model // as used, after scaling
	baseline  float64
	decimals  int
	scale     float64 // 10^decimals
	min, max  float64 // physical range
	low, high float64 // safe band: the restore values of the nearest setpoints
	rng       *rand.Rand
	// Slow parts. start is the device time of elapsed 0 and lonHours
	// the site's solar time offset from UTC; driftPhase is where in its
	// cycle the drift starts, in hours.
	start    time.Time
	lonHours float64
	// pinned, when set, is the local solar time at elapsed 0 in hours,
	// whatever start and longitude say.
	pinned     *float64
	driftPhase float64
	walk       *walk
}

// NewSignal builds the signal of a sensor of kind k with the given
// setpoints (a sensor's effective setpoints; unresolved restore values are
// resolved against k's deadband) and the kind's default model. nominal is
// the design operating value, or NaN to derive one: the kind's typical
// value, the middle of the band between low and high setpoints, or half
// way to a one-sided setpoint. The noise is a PCG stream seeded by seed
// and key (the sensor's "site/sensor"), so every sensor has its own stream
// and a seed replays the same values.
func NewSignal(k *sensors.Kind, setpoints []sensors.Setpoint, nominal float64, seed int64, key string) (*Signal, error) {
	return NewModelSignal(k, KindModel(k), setpoints, nominal, seed, key)
}

// NewModelSignal is NewSignal with a model other than the kind's default.
func NewModelSignal(k *sensors.Kind, m Model, setpoints []sensors.Setpoint, nominal float64, seed int64, key string) (*Signal, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("simulator: kind %s: model: %w", k.ID, err)
	}
	s := &Signal{
		decimals: m.Decimals,
		scale:    math.Pow10(m.Decimals),
		min:      k.Min,
		max:      k.Max,
		low:      math.Inf(-1),
		high:     math.Inf(1),
		lonHours: defaultLongitude / 15,
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
	if !inside(base) && m.HasTypical {
		base = s.round(m.Typical)
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

	m, walkSlope := fit(m, k, base, base-s.low, s.high-base, 0.5/s.scale)
	s.model = m

	h := fnv.New64a()
	h.Write([]byte(key))
	keyHash := h.Sum64()
	s.rng = rand.New(rand.NewPCG(uint64(seed), keyHash))
	// The slow parts draw from a stream of their own, so the level is
	// the same however many noise samples were taken: the drift's phase
	// first, then the walk's knots.
	slow := func() *rand.Rand { return rand.New(rand.NewPCG(uint64(seed)^slowStream, keyHash)) }
	if m.Drift.on() {
		s.driftPhase = slow().Float64() * 4 * m.Drift.Span / m.Drift.RatePerHour
	}
	if m.Walk.on() {
		drift := m.Drift.on()
		s.walk = newWalk(m.Walk, walkSlope*m.Walk.Step.Hours(), func() func() float64 {
			r := slow()
			if drift {
				r.Float64() // the drift's phase
			}
			return func() float64 { return truncNorm(r) }
		})
	}
	return s, nil
}

// fit scales a model down to a sensor: every part together so the
// largest excursion (all parts at their extremes at once, plus half a
// resolution step of rounding) stays within half the distance to the
// nearest restore value (below and above are those distances); the slow
// parts alone so they stay within half the distance to the range ends,
// where the noise may be clamped but a level should not sit; and the
// slow parts' slopes so together they stay within the kind's slope
// budget: the cycle and the drift take at most three quarters of it and
// the walk's steps are capped at the rest, which it returns per hour.
func fit(m Model, k *sensors.Kind, base, below, above, halfStep float64) (Model, float64) {
	if !m.Diurnal.on() {
		m.Diurnal = Diurnal{}
	}
	if !m.Drift.on() {
		m.Drift = Drift{}
	}
	if !m.Walk.on() {
		m.Walk = Walk{}
	}
	slowReach := func() float64 { return math.Abs(m.Diurnal.Amplitude) + m.Drift.Span + truncZ*m.Walk.Sigma }
	scaleSlow := func(f float64) {
		m.Diurnal.Amplitude *= f
		m.Drift.Span *= f
		m.Walk.Sigma *= f
	}
	band := math.Min(below, above) - halfStep
	if reach := slowReach() + truncZ*m.Noise; reach > 0 && math.Max(0, band/2) < reach {
		f := math.Max(0, band/2) / reach
		scaleSlow(f)
		m.Noise *= f
	}
	rangeEnds := math.Min(base-k.Min, k.Max-base) - halfStep
	if reach := slowReach(); reach > 0 && math.Max(0, rangeEnds/2) < reach {
		scaleSlow(math.Max(0, rangeEnds/2) / reach)
	}
	budget := slopeBudget(k)
	cycle := math.Abs(m.Diurnal.Amplitude) * 2 * math.Pi / 24
	if steady := cycle + m.Drift.RatePerHour; steady > budget*3/4 {
		f := budget * 3 / 4 / steady
		m.Diurnal.Amplitude *= f
		m.Drift.RatePerHour *= f
		cycle *= f
	}
	return m, budget - cycle - m.Drift.RatePerHour
}

// slowStream separates the stream of a signal's slow parts from its
// noise stream.
const slowStream = 0x736c6f77 // "slow"

// defaultLongitude places sites without coordinates on the China
// Standard Time meridian.
const defaultLongitude = 120

func truncNorm(r *rand.Rand) float64 {
	z := r.NormFloat64()
	for math.Abs(z) > truncZ {
		z = r.NormFloat64()
	}
	return z
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

// SetStart sets the device time at elapsed 0, which places the daily
// cycle; until it is called the run starts at the zero time.
func (s *Signal) SetStart(start time.Time) { s.start = start }

// SetLongitude places the sensor's site, in degrees east, for the daily
// cycle's local solar time; by default it is on the China Standard Time
// meridian, 120°E.
func (s *Signal) SetLongitude(lon float64) { s.lonHours = lon / 15 }

// SetTimeOfDay pins the daily cycle: elapsed 0 is at local solar time
// tod, whatever the start and the longitude. A scenario does this so it
// replays the same values whenever it is played.
func (s *Signal) SetTimeOfDay(tod time.Duration) {
	h := tod.Hours()
	s.pinned = &h
}

// Level is the noise-free value at elapsed: the baseline plus the daily
// cycle, the drift and the random walk. It is a pure function of the
// seed and elapsed, whatever was asked before.
func (s *Signal) Level(elapsed time.Duration) float64 {
	v := s.baseline
	m := s.model
	if m.Diurnal.on() {
		// Hours of local solar time since the last midnight.
		var h float64
		if s.pinned != nil {
			h = math.Mod(*s.pinned+elapsed.Hours(), 24)
		} else {
			t := s.start.Add(elapsed)
			h = math.Mod(float64(t.Unix()%86400)/3600+float64(t.Nanosecond())/3.6e12+s.lonHours, 24)
		}
		v += m.Diurnal.Amplitude * math.Cos(2*math.Pi*(h-m.Diurnal.Peak.Hours())/24)
	}
	if m.Drift.on() {
		// A triangle wave between −Span and +Span, Span·4/rate hours long.
		period := 4 * m.Drift.Span
		p := math.Mod(m.Drift.RatePerHour*(elapsed.Hours()+s.driftPhase), period)
		if p < 0 {
			p += period
		}
		if p < 2*m.Drift.Span {
			v += p - m.Drift.Span
		} else {
			v += 3*m.Drift.Span - p
		}
	}
	if s.walk != nil {
		v += s.walk.at(elapsed)
	}
	return v
}

// Sample returns the next reading, taken at elapsed: the level plus one
// draw of noise, quantized and clamped like a transmitter's output.
// Samples come from one stream in call order, so a run must ask for them
// in its order.
func (s *Signal) Sample(elapsed time.Duration) float64 {
	v, _ := s.sample(elapsed)
	return v
}

func (s *Signal) sample(elapsed time.Duration) (v, level float64) {
	level = s.Level(elapsed)
	return s.clamp(s.round(level + s.model.Noise*truncNorm(s.rng))), level
}

// Model is the model the signal follows, after scaling to the sensor's
// safe band and slope budget.
func (s *Signal) Model() Model { return s.model }

// Baseline is the value the signal varies around; its level stays
// within the model's amplitudes of it.
func (s *Signal) Baseline() float64 { return s.baseline }

// Sigma is the noise's standard deviation before truncation.
func (s *Signal) Sigma() float64 { return s.model.Noise }

// Decimals is the instrument resolution as digits after the point; the
// encoder prints values with exactly this many.
func (s *Signal) Decimals() int { return s.decimals }

// SafeBand returns the restore values of the nearest low and high
// setpoints; an open side is an infinity. The signal alone stays strictly
// between them.
func (s *Signal) SafeBand() (low, high float64) { return s.low, s.high }

// Quantize rounds v to the instrument resolution and clamps it to the
// physical range, as a transmitter would report it.
func (s *Signal) Quantize(v float64) float64 { return s.clamp(s.round(v)) }

// quantizeToward quantizes an incident value by cutting toward the
// sensor's level rather than rounding. A setpoint on the resolution grid
// is then reached at the same moment as by the exact ramp, so ground
// truth holds to the sample.
func (s *Signal) quantizeToward(v, level float64) float64 {
	if v >= level {
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
// design operating value from Nominal when there is one, its kind's model
// from Models (else KindModel) and its site's longitude from Places. Call
// SetStart with the run's device start before asking for values.
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
	m, ok := f.Models[k.ID]
	if !ok {
		m = KindModel(k)
	}
	sig, err := NewModelSignal(k, m, s.EffectiveSetpoints(), nominal, seed, key)
	if err != nil {
		return nil, fmt.Errorf("sensor %s: %w", key, err)
	}
	if p, ok := f.Places[s.Site]; ok && p.HasCoordinates {
		sig.SetLongitude(p.Lon)
	}
	if f.TimeOfDay != nil {
		sig.SetTimeOfDay(*f.TimeOfDay)
	}
	return sig, nil
}
