package simulator

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// The synthetic library is a bench for the alert rules themselves: noisy
// normal signals and scripted incidents with their ground truth, produced
// in memory so that thousands of sensor-hours run in seconds through an
// engine in the same process (riskmon sim score --bench). Its noise is
// harsher than the models 'sim run' publishes: AR(1) noise with lone
// spikes, a daily drift, and quantisation.

// NoiseModel is a synthetic sensor's normal signal.
type NoiseModel struct {
	Kind  sensors.KindID
	Base  float64 // the normal value
	Sigma float64 // standard deviation of the AR(1) noise
	Phi   float64 // its lag-one autocorrelation
	// Spikes: on average one reading in SpikeEvery carries a lone spike
	// of SpikeSigma to twice that many standard deviations (signed: the
	// bad way). Spikes are never closer than five readings.
	SpikeEvery int
	SpikeSigma float64
	// Diurnal is the amplitude of a daily cycle, peaking mid-afternoon.
	Diurnal float64
	// Step is the quantisation: values are rounded to it.
	Step float64
}

// DefaultNoise is the bench's noise for the kinds it scores: about twice
// the simulator's models, AR(1) with a 14-second memory at 5-second
// readings, a 6-12σ spike every 300 readings.
func DefaultNoise() []NoiseModel {
	return []NoiseModel{
		{Kind: "combustible_gas", Base: 1, Sigma: 0.5, Phi: 0.7, SpikeEvery: 300, SpikeSigma: 6, Diurnal: 0.3, Step: 0.1},
		{Kind: "co", Base: 2, Sigma: 0.6, Phi: 0.7, SpikeEvery: 300, SpikeSigma: 6, Diurnal: 0.3, Step: 0.1},
		{Kind: "oxygen", Base: 20.9, Sigma: 0.08, Phi: 0.7, SpikeEvery: 300, SpikeSigma: -6, Diurnal: 0.05, Step: 0.01},
		{Kind: "line_pressure", Base: 4, Sigma: 0.01, Phi: 0.7, SpikeEvery: 300, SpikeSigma: -6, Diurnal: 0.01, Step: 0.001},
		{Kind: "ch4", Base: 0.2, Sigma: 0.03, Phi: 0.7, SpikeEvery: 300, SpikeSigma: 6, Diurnal: 0.02, Step: 0.01},
	}
}

// noise generates one sensor's normal signal.
type noise struct {
	m       NoiseModel
	rng     *rand.Rand
	x       float64
	innov   float64
	lastSpk int
	n       int
}

func newNoise(m NoiseModel, seed uint64, stream uint64) *noise {
	return &noise{m: m, rng: rand.New(rand.NewPCG(seed, stream)), innov: m.Sigma * math.Sqrt(1-m.Phi*m.Phi), lastSpk: -10}
}

// next is the normal value at elapsed device time d.
func (g *noise) next(d time.Duration) float64 {
	g.n++
	g.x = g.m.Phi*g.x + g.innov*g.rng.NormFloat64()
	v := g.m.Base + g.x + g.m.Diurnal*math.Sin(2*math.Pi*(d.Hours()-9)/24)
	if g.m.SpikeEvery > 0 && g.n-g.lastSpk > 5 && g.rng.IntN(g.m.SpikeEvery) == 0 {
		g.lastSpk = g.n
		v += g.m.SpikeSigma * g.m.Sigma * (1 + g.rng.Float64())
	}
	return v
}

func (g *noise) quantise(v float64) float64 {
	if g.m.Step <= 0 {
		return v
	}
	return math.Round(v/g.m.Step) * g.m.Step
}

// Shape is an incident's shape.
type Shape string

// Incident shapes of the bench.
const (
	ShapeRamp       Shape = "ramp"        // a straight rise (or fall) to beyond the first setpoint
	ShapeExpRamp    Shape = "exp_ramp"    // an accelerating one: a·(e^{t/τ}-1), τ a third of the rise unless BenchOptions.Curve says otherwise
	ShapeSpikeTrain Shape = "spike_train" // a burst of spikes over the first setpoint, every 40 s
	ShapeRupture    Shape = "rupture"     // a pressure drop sustained after it happens
)

// BenchIncident is one scripted incident of the bench and its truth.
type BenchIncident struct {
	ID     string
	Kind   sensors.KindID
	Site   string
	Sensor string
	Shape  Shape
	// Onset is when the incident starts; Alarm when the value first
	// reaches the first alarm setpoint (zero for shapes without one);
	// End when it is over.
	Onset, Alarm, End time.Time
	// Rise is the time from onset to the first setpoint the script
	// aims at.
	Rise time.Duration
}

// Bench is a generated set of readings with their truth: normal runs for
// the false-alert rate and incidents.
type Bench struct {
	Start time.Time
	// Normal are the sensors of the normal runs, Hours long each.
	Normal      []sensors.Sensor
	NormalHours float64
	Incidents   []BenchIncident
	// Registry holds every sensor of the bench.
	Registry *sensors.Registry

	models    map[sensors.KindID]NoiseModel
	seed      uint64
	incidentD time.Duration
	curve     float64 // τ of the accelerating ramps over their rise
}

// BenchOptions size a bench.
type BenchOptions struct {
	Seed uint64
	// SensorHours is how many sensor-hours of normal operation to run,
	// at least; they are split over sensors of every kind of Noise.
	SensorHours float64
	// Rises are the onset-to-alarm times of the ramps; each kind with a
	// setpoint gets a straight and an accelerating ramp of each.
	Rises []time.Duration
	// Noise are the kinds and their noise; default DefaultNoise.
	Noise []NoiseModel
	// Curve is the time constant τ of the accelerating ramps as a share
	// of their rise; default 1/3. A smaller share is a sharper bend: at
	// half the rise a ramp of τ = rise/3 has covered a fifth of its way,
	// one of τ = rise/4 an eighth, one of τ = rise/2 more than a quarter.
	Curve float64
	// NoiseScale multiplies every model's AR(1) deviation (and so its
	// spikes, which are in deviations); 0 or 1 leaves the models as they
	// are.
	NoiseScale float64
	// SpikeEvery, when positive, replaces every model's SpikeEvery; a
	// negative value leaves the spikes out.
	SpikeEvery int
}

// NewBench builds the bench's registry and truth; Normal and Incidents
// stream its readings.
func NewBench(opts BenchOptions) (*Bench, error) {
	if opts.Noise == nil {
		opts.Noise = DefaultNoise()
	}
	if opts.NoiseScale > 0 || opts.SpikeEvery != 0 {
		opts.Noise = slices.Clone(opts.Noise)
		for i := range opts.Noise {
			m := &opts.Noise[i]
			if opts.NoiseScale > 0 {
				m.Sigma *= opts.NoiseScale
			}
			switch {
			case opts.SpikeEvery > 0:
				m.SpikeEvery = opts.SpikeEvery
			case opts.SpikeEvery < 0:
				m.SpikeEvery = 0
			}
		}
	}
	if len(opts.Rises) == 0 {
		opts.Rises = []time.Duration{90 * time.Second, 2 * time.Minute, 3 * time.Minute, 5 * time.Minute}
	}
	if opts.SensorHours <= 0 {
		opts.SensorHours = 1000
	}
	if opts.Curve <= 0 {
		opts.Curve = 1.0 / 3
	}
	cat := sensors.DefaultCatalog()
	b := &Bench{Start: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), models: map[sensors.KindID]NoiseModel{}, seed: opts.Seed,
		incidentD: 40 * time.Minute, curve: opts.Curve}
	const perKind = 8 // sensors of each kind in the normal runs
	b.NormalHours = math.Ceil(opts.SensorHours / float64(perKind*len(opts.Noise)))
	var all []sensors.Sensor
	for _, m := range opts.Noise {
		k, ok := cat.Kind(m.Kind)
		if !ok {
			return nil, fmt.Errorf("bench: unknown kind %s", m.Kind)
		}
		b.models[m.Kind] = m
		for i := range perKind {
			s := sensors.Sensor{ID: fmt.Sprintf("N-%s-%d", m.Kind, i), Site: "bench-normal", Kind: m.Kind, Gateway: "gw-n"}
			b.Normal = append(b.Normal, s)
		}
		if len(k.Setpoints) == 0 && m.Kind != "line_pressure" {
			continue
		}
		n := 0
		add := func(shape Shape, rise time.Duration) {
			n++
			id := fmt.Sprintf("%s-%s-%d", m.Kind, shape, n)
			onset := b.Start.Add(20 * time.Minute)
			inc := BenchIncident{ID: id, Kind: m.Kind, Site: "bench-incidents", Sensor: "I-" + id, Shape: shape, Onset: onset, Rise: rise}
			switch shape {
			case ShapeRamp, ShapeExpRamp, ShapeRupture:
				inc.End = onset.Add(rise + 5*time.Minute)
			case ShapeSpikeTrain:
				inc.End = onset.Add(rise)
			}
			b.Incidents = append(b.Incidents, inc)
		}
		for _, r := range opts.Rises {
			if m.Kind == "line_pressure" {
				add(ShapeRupture, r)
				continue
			}
			add(ShapeRamp, r)
			add(ShapeExpRamp, r)
		}
		if m.Kind != "line_pressure" {
			add(ShapeSpikeTrain, 6*time.Minute)
		}
	}
	all = append(all, b.Normal...)
	for _, inc := range b.Incidents {
		all = append(all, sensors.Sensor{ID: inc.Sensor, Site: inc.Site, Kind: inc.Kind, Gateway: "gw-i"})
	}
	reg, err := sensors.NewRegistry(cat, []sensors.Site{{ID: "bench-normal", Sector: sensors.SectorHazchem},
		{ID: "bench-incidents", Sector: sensors.SectorHazchem}}, all)
	if err != nil {
		return nil, err
	}
	b.Registry = reg
	for i, s := range b.Normal {
		r, _ := reg.Lookup(s.Site, s.ID)
		b.Normal[i] = *r
	}
	// The truth of each incident: when it reaches its first setpoint.
	for i := range b.Incidents {
		inc := &b.Incidents[i]
		if inc.Shape == ShapeRupture {
			continue // no setpoint: the rate rule's to catch
		}
		inc.Alarm = inc.Onset.Add(inc.Rise)
	}
	return b, nil
}

// firstSetpoint is the least severe default setpoint of a kind on the
// side its incidents go.
func firstSetpoint(k *sensors.Kind, m NoiseModel) sensors.Setpoint {
	want := sensors.Above
	if m.SpikeSigma < 0 {
		want = sensors.Below
	}
	var out sensors.Setpoint
	found := false
	for _, sp := range k.Setpoints {
		if sp.Direction != want {
			continue
		}
		if !found || (want == sensors.Above && sp.Value < out.Value) || (want == sensors.Below && sp.Value > out.Value) {
			out, found = sp, true
		}
	}
	if !found {
		out = k.Setpoints[0]
	}
	return out
}

// streams yields readings of sensors ss, each from its own generator (the
// seed's streams base onwards), in device-time order from start for d,
// to fn.
func (b *Bench) streams(ctx context.Context, ss []sensors.Sensor, base uint64, d time.Duration, value func(i int, el time.Duration, normal float64) float64, fn func(sensors.Reading) error) error {
	type gen struct {
		s        sensors.Sensor
		interval time.Duration
		next     time.Duration
		g        *noise
	}
	gens := make([]*gen, len(ss))
	for i, s := range ss {
		m := b.models[s.Kind]
		gens[i] = &gen{s: s, interval: s.KindInfo().Interval, g: newNoise(m, b.seed, base+uint64(i))}
		if gens[i].interval <= 0 {
			gens[i].interval = 5 * time.Second
		}
	}
	for t := time.Duration(0); t < d; t += time.Second {
		if t%time.Hour == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		for i, g := range gens {
			if t < g.next {
				continue
			}
			g.next += g.interval
			v := g.g.quantise(value(i, t, g.g.next(t)))
			if err := fn(sensors.Reading{Site: g.s.Site, Sensor: g.s.ID, Kind: g.s.Kind, Value: v, Time: b.Start.Add(t), Quality: sensors.QualityGood}); err != nil {
				return err
			}
		}
	}
	return nil
}

// NormalSource is the readings of the normal runs.
func (b *Bench) NormalSource() interface {
	Readings(ctx context.Context, fn func(sensors.Reading) error) error
} {
	return sourceFunc(func(ctx context.Context, fn func(sensors.Reading) error) error {
		d := time.Duration(b.NormalHours * float64(time.Hour))
		return b.streams(ctx, b.Normal, 1, d, func(_ int, _ time.Duration, v float64) float64 { return v }, fn)
	})
}

// IncidentSource is the readings of the incident sensors: normal noise
// with each incident's script added from its onset.
func (b *Bench) IncidentSource() interface {
	Readings(ctx context.Context, fn func(sensors.Reading) error) error
} {
	return sourceFunc(func(ctx context.Context, fn func(sensors.Reading) error) error {
		ss := make([]sensors.Sensor, len(b.Incidents))
		for i, inc := range b.Incidents {
			s, _ := b.Registry.Lookup(inc.Site, inc.Sensor)
			ss[i] = *s
		}
		return b.streams(ctx, ss, 1<<20, b.incidentD, func(i int, el time.Duration, v float64) float64 {
			return b.script(b.Incidents[i], el, v)
		}, fn)
	})
}

// script is the incident's value at elapsed device time el, given the
// normal value v.
func (b *Bench) script(inc BenchIncident, el time.Duration, v float64) float64 {
	since := b.Start.Add(el).Sub(inc.Onset)
	if since <= 0 || !b.Start.Add(el).Before(inc.End) {
		return v
	}
	m := b.models[inc.Kind]
	k, _ := sensors.DefaultCatalog().Kind(inc.Kind)
	switch inc.Shape {
	case ShapeRupture:
		// A fall of a quarter of the line's pressure within 30 s, held.
		return v - 1*min(since.Seconds()/30, 1)
	case ShapeSpikeTrain:
		sp := firstSetpoint(k, m)
		if int(since.Seconds())%40 < 5 {
			return sp.Value + (sp.Value-m.Base)*0.2
		}
		return v
	}
	sp := firstSetpoint(k, m)
	lift := sp.Value - m.Base
	s, r := since.Seconds(), inc.Rise.Seconds()
	if inc.Shape == ShapeExpRamp {
		tau := r * b.curve
		return v + lift*(math.Exp(s/tau)-1)/(math.Exp(r/tau)-1)
	}
	return v + lift*s/r
}

type sourceFunc func(ctx context.Context, fn func(sensors.Reading) error) error

func (f sourceFunc) Readings(ctx context.Context, fn func(sensors.Reading) error) error {
	return f(ctx, fn)
}

// BenchScore is how the rules did on a bench.
type BenchScore struct {
	Seed uint64
	// Detected counts incidents with an alert from onset to end (a
	// minute's grace either side), of Incidents.
	Detected, Incidents int
	// Leads are per shape the lead of the first early warning over the
	// first setpoint (seconds) and as a fraction of onset→alarm; an
	// incident warned late or not at all counts 0.
	Leads map[Shape][]float64
	Fracs map[Shape][]float64
	// KindFracs are the fractions of Fracs by kind: which kinds hold a
	// median up or down.
	KindFracs map[Shape]map[sensors.KindID][]float64
	// ETAErr is per ramp |stated due - actual alarm| over the actual
	// time from warning to alarm, at the first warning.
	ETAErr []float64
	// RuptureDelay is the time from each rupture to its first alert.
	RuptureDelay []float64
	// FalseAlerts are alerts raised on normal sensors, over SensorHours.
	FalseAlerts int
	SensorHours float64
	False       []AlertEvent
}

// Median of xs, NaN when empty.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// FalsePer1000 is the false-alert rate per 1,000 sensor-hours.
func (s BenchScore) FalsePer1000() float64 {
	if s.SensorHours == 0 {
		return 0
	}
	return float64(s.FalseAlerts) / s.SensorHours * 1000
}

// ScoreBench scores the alert events riskmon raised on the bench's
// normal runs (normal) and incidents (incidents): the events as paged,
// after the flapping hold.
func (b *Bench) ScoreBench(normal, incidents []AlertEvent) BenchScore {
	sc := BenchScore{Seed: b.seed, Incidents: len(b.Incidents), Leads: map[Shape][]float64{}, Fracs: map[Shape][]float64{},
		KindFracs: map[Shape]map[sensors.KindID][]float64{}, SensorHours: b.NormalHours * float64(len(b.Normal))}
	for _, ev := range normal {
		// The incident sensors are silent in the normal runs: their
		// staleness there is the bench's, not the rules'.
		if ev.Type == "fired" && ev.Site == "bench-normal" {
			sc.FalseAlerts++
			sc.False = append(sc.False, ev)
		}
	}
	bySensor := map[string][]AlertEvent{}
	for _, ev := range incidents {
		bySensor[ev.Sensor] = append(bySensor[ev.Sensor], ev)
	}
	const grace = time.Minute
	for _, inc := range b.Incidents {
		var first, warn *AlertEvent
		for i := range bySensor[inc.Sensor] {
			ev := &bySensor[inc.Sensor][i]
			if ev.Type != "fired" {
				continue
			}
			if ev.At.Before(inc.Onset.Add(-grace)) {
				sc.FalseAlerts++ // before the incident: as false as any
				sc.False = append(sc.False, *ev)
				continue
			}
			if ev.At.After(inc.End.Add(grace)) {
				continue
			}
			if first == nil {
				first = ev
			}
			if warn == nil && ev.Rule != string(inc.Kind)+"_high" && ev.Rule != string(inc.Kind)+"_low" {
				warn = ev
			}
		}
		if first != nil {
			sc.Detected++
		}
		switch inc.Shape {
		case ShapeRupture:
			if first != nil {
				sc.RuptureDelay = append(sc.RuptureDelay, first.At.Sub(inc.Onset).Seconds())
			}
		case ShapeRamp, ShapeExpRamp:
			lead, frac := 0.0, 0.0
			if warn != nil && warn.At.Before(inc.Alarm) {
				lead = inc.Alarm.Sub(warn.At).Seconds()
				frac = lead / inc.Rise.Seconds()
				if !warn.Due.IsZero() {
					sc.ETAErr = append(sc.ETAErr, math.Abs(warn.Due.Sub(inc.Alarm).Seconds())/lead)
				}
			}
			sc.Leads[inc.Shape] = append(sc.Leads[inc.Shape], lead)
			sc.Fracs[inc.Shape] = append(sc.Fracs[inc.Shape], frac)
			if sc.KindFracs[inc.Shape] == nil {
				sc.KindFracs[inc.Shape] = map[sensors.KindID][]float64{}
			}
			sc.KindFracs[inc.Shape][inc.Kind] = append(sc.KindFracs[inc.Shape][inc.Kind], frac)
		}
	}
	return sc
}
