package simulator

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// SensorRef names one sensor of a fleet.
type SensorRef struct {
	Site   string `json:"site"`
	Sensor string `json:"sensor"`
}

func (r SensorRef) String() string { return r.Site + "/" + r.Sensor }

// GatewayRef names one gateway of a fleet.
type GatewayRef struct {
	Site    string `json:"site"`
	Gateway string `json:"gateway"`
}

func (r GatewayRef) String() string { return r.Site + "/" + r.Gateway }

// Incident is anything a Publisher plays into a run: a process upset such
// as a leak or a sensor fault. Every incident is a pure function of the
// elapsed time, so a run and its ground truth are reproducible.
type Incident interface {
	// Validate checks the parameters.
	Validate() error
	// Span is the elapsed time from which the incident shapes any value
	// and the time after which it no longer does.
	Span() (start, end time.Duration)
	// Sensors lists the sensors whose values the incident shapes.
	Sensors() []SensorRef
	// Apply gives what sensor ref reports at elapsed. baseline is its
	// normal value and v the noisy sample it would report without the
	// incident. active is false when the incident leaves the sample
	// alone; a NaN value means the sensor reports nothing.
	Apply(ref SensorRef, elapsed time.Duration, baseline, v float64) (out float64, active bool)
}

// GatewayIncident is an incident on a whole gateway rather than on its
// sensors' values. The Publisher asks it, every tick, whether the gateway
// is on the air and how wrong its clock is.
type GatewayIncident interface {
	Incident
	Gateway() GatewayRef
	// Offline reports whether the gateway is off the air at elapsed.
	Offline(elapsed time.Duration) bool
	// ClockOffset is how far the gateway's clock is ahead at elapsed.
	ClockOffset(elapsed time.Duration) time.Duration
}

// within reports whether elapsed lies in [start, start+d).
func within(elapsed, start, d time.Duration) bool {
	return elapsed >= start && elapsed < start+d
}

func negative(ds ...time.Duration) bool {
	for _, d := range ds {
		if d < 0 {
			return true
		}
	}
	return false
}

func needSensor(site, sensor string) error {
	if site == "" || sensor == "" {
		return errors.New("site and sensor are required")
	}
	return nil
}

// GasLeak as an Incident: these methods let scenarios mix it with the
// rest of the library.

// Span is the leak's active window.
func (g GasLeak) Span() (time.Duration, time.Duration) { return g.Start, g.End() }

// Sensors is the leak's one sensor.
func (g GasLeak) Sensors() []SensorRef { return []SensorRef{{g.Site, g.Sensor}} }

// Apply replaces the sample with the ramp while the leak is active.
func (g GasLeak) Apply(_ SensorRef, elapsed time.Duration, baseline, v float64) (float64, bool) {
	if !g.Active(elapsed) {
		return v, false
	}
	return g.ValueAt(elapsed, baseline), true
}

// TankOverfill fills a tank at a constant rate: a level transmitter's
// reading climbs from its baseline by RatePerHour until Duration is over
// (the operator stops the transfer), never beyond Max when Max is set (the
// shell top, where the product overflows).
type TankOverfill struct {
	Site        string        `yaml:"site"`
	Sensor      string        `yaml:"sensor"`
	Start       time.Duration `yaml:"start"`
	Duration    time.Duration `yaml:"duration"`
	RatePerHour float64       `yaml:"rate_per_hour"`
	Max         float64       `yaml:"max"`
}

func (t TankOverfill) Validate() error {
	err := needSensor(t.Site, t.Sensor)
	switch {
	case err != nil:
	case negative(t.Start) || t.Duration <= 0:
		err = errors.New("start must not be negative and duration must be positive")
	case t.RatePerHour <= 0:
		err = errors.New("rate_per_hour must be positive")
	}
	if err != nil {
		return fmt.Errorf("tank overfill %s/%s: %w", t.Site, t.Sensor, err)
	}
	return nil
}

func (t TankOverfill) Span() (time.Duration, time.Duration) { return t.Start, t.Start + t.Duration }
func (t TankOverfill) Sensors() []SensorRef                 { return []SensorRef{{t.Site, t.Sensor}} }

func (t TankOverfill) Apply(_ SensorRef, elapsed time.Duration, baseline, v float64) (float64, bool) {
	if !within(elapsed, t.Start, t.Duration) {
		return v, false
	}
	out := baseline + t.RatePerHour*(elapsed-t.Start).Hours()
	if t.Max > 0 {
		out = math.Min(out, t.Max)
	}
	return out, true
}

// RunawayTemperature is a thermal runaway: the temperature rises from its
// baseline ever faster, doubling its excess every DoublingTime, and has
// risen by Rise when Duration is over (when the run stops it, e.g. by
// deluge cooling).
type RunawayTemperature struct {
	Site         string        `yaml:"site"`
	Sensor       string        `yaml:"sensor"`
	Start        time.Duration `yaml:"start"`
	Duration     time.Duration `yaml:"duration"`
	Rise         float64       `yaml:"rise"`
	DoublingTime time.Duration `yaml:"doubling_time"`
}

func (r RunawayTemperature) Validate() error {
	err := needSensor(r.Site, r.Sensor)
	switch {
	case err != nil:
	case negative(r.Start) || r.Duration <= 0 || r.DoublingTime <= 0:
		err = errors.New("start must not be negative, duration and doubling_time must be positive")
	case r.Rise == 0:
		err = errors.New("rise must not be zero")
	}
	if err != nil {
		return fmt.Errorf("runaway temperature %s/%s: %w", r.Site, r.Sensor, err)
	}
	return nil
}

func (r RunawayTemperature) Span() (time.Duration, time.Duration) {
	return r.Start, r.Start + r.Duration
}
func (r RunawayTemperature) Sensors() []SensorRef { return []SensorRef{{r.Site, r.Sensor}} }

// Apply follows baseline + Rise·(2^(t/T) − 1)/(2^(D/T) − 1), which starts
// flat, accelerates and reaches baseline + Rise at the end.
func (r RunawayTemperature) Apply(_ SensorRef, elapsed time.Duration, baseline, v float64) (float64, bool) {
	if !within(elapsed, r.Start, r.Duration) {
		return v, false
	}
	t := float64(elapsed-r.Start) / float64(r.DoublingTime)
	full := float64(r.Duration) / float64(r.DoublingTime)
	return baseline + r.Rise*(math.Exp2(t)-1)/(math.Exp2(full)-1), true
}

// part is one sensor's share of a composite incident.
type part struct {
	ref SensorRef
	inc Incident
}

// composite is an incident made of one-sensor incidents; the first part
// of a sensor that is active shapes its value.
type composite []part

func (c composite) span() (time.Duration, time.Duration) {
	start, end := time.Duration(math.MaxInt64), time.Duration(0)
	for _, p := range c {
		s, e := p.inc.Span()
		start, end = min(start, s), max(end, e)
	}
	if len(c) == 0 {
		return 0, 0
	}
	return start, end
}

func (c composite) sensors() []SensorRef {
	var out []SensorRef
	seen := map[SensorRef]bool{}
	for _, p := range c {
		if !seen[p.ref] {
			seen[p.ref] = true
			out = append(out, p.ref)
		}
	}
	return out
}

func (c composite) apply(ref SensorRef, elapsed time.Duration, baseline, v float64) (float64, bool) {
	for _, p := range c {
		if p.ref != ref {
			continue
		}
		if out, ok := p.inc.Apply(ref, elapsed, baseline, v); ok {
			return out, true
		}
	}
	return v, false
}

// Station is one measuring station along a pipeline.
type Station struct {
	Site string  `yaml:"site"`
	Km   float64 `yaml:"km"`
	// Pressure are the station's pressure transmitters.
	Pressure []string `yaml:"pressure"`
	// Flow is the station's flow meter, if any.
	Flow string `yaml:"flow"`
}

// PipelineRupture is a rupture at AtKm along a line: a negative pressure
// wave leaves the break both ways at WaveSpeed (km/s), so each station's
// pressure starts falling |km − AtKm|/WaveSpeed after Start and falls by
// Drop, less Attenuation per km of distance, over Fall. Flow rises by
// FlowChange (a fraction of the baseline) upstream of the break and falls
// by it downstream: the imbalance a mass-balance check sees. The line stays
// ruptured until Duration is over.
type PipelineRupture struct {
	Start       time.Duration `yaml:"start"`
	Duration    time.Duration `yaml:"duration"`
	AtKm        float64       `yaml:"at_km"`
	WaveSpeed   float64       `yaml:"wave_speed"`
	Drop        float64       `yaml:"drop"`
	Attenuation float64       `yaml:"attenuation"`
	Fall        time.Duration `yaml:"fall"`
	FlowChange  float64       `yaml:"flow_change"`
	Stations    []Station     `yaml:"stations"`
}

// DefaultWaveSpeed is the speed of a pressure wave in a gas line, km/s.
const DefaultWaveSpeed = 0.4

func (p PipelineRupture) parts() composite {
	speed := p.WaveSpeed
	if speed <= 0 {
		speed = DefaultWaveSpeed
	}
	var c composite
	for _, st := range p.Stations {
		dist := math.Abs(st.Km - p.AtKm)
		delay := time.Duration(dist / speed * float64(time.Second))
		start := p.Start + delay
		rest := p.Duration - delay
		if rest <= 0 {
			continue // the wave does not arrive before the line is isolated
		}
		drop := math.Max(0, p.Drop-p.Attenuation*dist)
		fall := min(p.Fall, rest)
		for _, id := range st.Pressure {
			c = append(c, part{SensorRef{st.Site, id}, offsetRamp{SensorRef{st.Site, id}, start, fall, rest, -drop, false}})
		}
		if st.Flow != "" && p.FlowChange != 0 {
			change := p.FlowChange
			if st.Km > p.AtKm {
				change = -change
			}
			c = append(c, part{SensorRef{st.Site, st.Flow}, offsetRamp{SensorRef{st.Site, st.Flow}, start, fall, rest, change, true}})
		}
	}
	return c
}

func (p PipelineRupture) Validate() error {
	var err error
	switch {
	case len(p.Stations) == 0:
		err = errors.New("stations are required")
	case negative(p.Start, p.Fall) || p.Duration <= 0:
		err = errors.New("start and fall must not be negative and duration must be positive")
	case p.Drop <= 0:
		err = errors.New("drop must be positive")
	case p.Attenuation < 0 || p.WaveSpeed < 0:
		err = errors.New("attenuation and wave_speed must not be negative")
	}
	for _, st := range p.Stations {
		if err == nil && (st.Site == "" || (len(st.Pressure) == 0 && st.Flow == "")) {
			err = errors.New("every station needs a site and a pressure or flow sensor")
		}
	}
	if err != nil {
		return fmt.Errorf("pipeline rupture: %w", err)
	}
	return nil
}

func (p PipelineRupture) Span() (time.Duration, time.Duration) {
	return p.Start, p.Start + p.Duration
}
func (p PipelineRupture) Sensors() []SensorRef { return p.parts().sensors() }
func (p PipelineRupture) Apply(ref SensorRef, elapsed time.Duration, baseline, v float64) (float64, bool) {
	return p.parts().apply(ref, elapsed, baseline, v)
}

// offsetRamp moves a value by delta (or by delta times the baseline when
// relative) in a straight line over ramp from start, and holds it there
// until start+d.
type offsetRamp struct {
	ref         SensorRef
	start, ramp time.Duration
	d           time.Duration
	delta       float64
	relative    bool
}

func (o offsetRamp) Validate() error                      { return nil }
func (o offsetRamp) Span() (time.Duration, time.Duration) { return o.start, o.start + o.d }
func (o offsetRamp) Sensors() []SensorRef                 { return []SensorRef{o.ref} }
func (o offsetRamp) Apply(_ SensorRef, elapsed time.Duration, baseline, v float64) (float64, bool) {
	if !within(elapsed, o.start, o.d) {
		return v, false
	}
	delta := o.delta
	if o.relative {
		delta *= baseline
	}
	f := 1.0
	if t := elapsed - o.start; t < o.ramp {
		f = float64(t) / float64(o.ramp)
	}
	return baseline + delta*f, true
}

// toValue moves a value in a straight line to target over ramp from
// start and holds it there until start+d.
type toValue struct {
	ref         SensorRef
	start, ramp time.Duration
	d           time.Duration
	target      float64
}

func (o toValue) Validate() error                      { return nil }
func (o toValue) Span() (time.Duration, time.Duration) { return o.start, o.start + o.d }
func (o toValue) Sensors() []SensorRef                 { return []SensorRef{o.ref} }
func (o toValue) Apply(_ SensorRef, elapsed time.Duration, baseline, v float64) (float64, bool) {
	if !within(elapsed, o.start, o.d) {
		return v, false
	}
	f := 1.0
	if t := elapsed - o.start; t < o.ramp {
		f = float64(t) / float64(o.ramp)
	}
	return baseline + (o.target-baseline)*f, true
}

// VentilationFailure is a fan trip at a coal face: the wind speeds fall to
// WindTo over WindFall, and GasDelay after Start methane starts
// accumulating, rising to GasPeak over GasRise. Both hold until Duration
// is over (ventilation restored).
type VentilationFailure struct {
	Site     string        `yaml:"site"`
	Wind     []string      `yaml:"wind"`
	Gas      []string      `yaml:"gas"`
	Start    time.Duration `yaml:"start"`
	Duration time.Duration `yaml:"duration"`
	WindFall time.Duration `yaml:"wind_fall"`
	WindTo   float64       `yaml:"wind_to"`
	GasDelay time.Duration `yaml:"gas_delay"`
	GasRise  time.Duration `yaml:"gas_rise"`
	GasPeak  float64       `yaml:"gas_peak"`
}

func (f VentilationFailure) parts() composite {
	var c composite
	for _, id := range f.Wind {
		ref := SensorRef{f.Site, id}
		c = append(c, part{ref, toValue{ref, f.Start, f.WindFall, f.Duration, f.WindTo}})
	}
	for _, id := range f.Gas {
		ref := SensorRef{f.Site, id}
		if d := f.Duration - f.GasDelay; d > 0 {
			c = append(c, part{ref, toValue{ref, f.Start + f.GasDelay, f.GasRise, d, f.GasPeak}})
		}
	}
	return c
}

func (f VentilationFailure) Validate() error {
	var err error
	switch {
	case f.Site == "" || len(f.Wind) == 0 || len(f.Gas) == 0:
		err = errors.New("site, wind and gas sensors are required")
	case negative(f.Start, f.WindFall, f.GasDelay, f.GasRise) || f.Duration <= 0:
		err = errors.New("times must not be negative and duration must be positive")
	case f.GasDelay >= f.Duration:
		err = errors.New("gas_delay must be shorter than duration")
	case f.WindTo < 0 || f.GasPeak <= 0:
		err = errors.New("wind_to must not be negative and gas_peak must be positive")
	}
	if err != nil {
		return fmt.Errorf("ventilation failure %s: %w", f.Site, err)
	}
	return nil
}

func (f VentilationFailure) Span() (time.Duration, time.Duration) {
	return f.Start, f.Start + f.Duration
}
func (f VentilationFailure) Sensors() []SensorRef { return f.parts().sensors() }
func (f VentilationFailure) Apply(ref SensorRef, elapsed time.Duration, baseline, v float64) (float64, bool) {
	return f.parts().apply(ref, elapsed, baseline, v)
}

// TailingsRain is a rainstorm over a tailings pond: the 24 h rain gauge
// climbs to RainTotal over Storm; Lag after Start the pond starts rising
// by Rise over RiseTime as the catchment drains into it, and the dry
// beach shortens by BeachLoss over the same time. Everything holds until
// Duration is over.
type TailingsRain struct {
	Site      string        `yaml:"site"`
	Rain      string        `yaml:"rain"`
	Pond      string        `yaml:"pond"`
	Beach     string        `yaml:"beach"`
	Start     time.Duration `yaml:"start"`
	Duration  time.Duration `yaml:"duration"`
	Storm     time.Duration `yaml:"storm"`
	RainTotal float64       `yaml:"rain_total"`
	Lag       time.Duration `yaml:"lag"`
	RiseTime  time.Duration `yaml:"rise_time"`
	Rise      float64       `yaml:"rise"`
	BeachLoss float64       `yaml:"beach_loss"`
}

func (r TailingsRain) parts() composite {
	var c composite
	if r.Rain != "" {
		ref := SensorRef{r.Site, r.Rain}
		c = append(c, part{ref, toValue{ref, r.Start, r.Storm, r.Duration, r.RainTotal}})
	}
	d := r.Duration - r.Lag
	if d <= 0 {
		return c
	}
	if r.Pond != "" {
		ref := SensorRef{r.Site, r.Pond}
		c = append(c, part{ref, offsetRamp{ref, r.Start + r.Lag, r.RiseTime, d, r.Rise, false}})
	}
	if r.Beach != "" && r.BeachLoss != 0 {
		ref := SensorRef{r.Site, r.Beach}
		c = append(c, part{ref, offsetRamp{ref, r.Start + r.Lag, r.RiseTime, d, -r.BeachLoss, false}})
	}
	return c
}

func (r TailingsRain) Validate() error {
	var err error
	switch {
	case r.Site == "" || r.Pond == "":
		err = errors.New("site and pond are required")
	case negative(r.Start, r.Storm, r.Lag, r.RiseTime) || r.Duration <= 0:
		err = errors.New("times must not be negative and duration must be positive")
	case r.Lag >= r.Duration:
		err = errors.New("lag must be shorter than duration")
	case r.Rise <= 0 || r.RainTotal < 0 || r.BeachLoss < 0:
		err = errors.New("rise must be positive, rain_total and beach_loss not negative")
	}
	if err != nil {
		return fmt.Errorf("tailings rain %s: %w", r.Site, err)
	}
	return nil
}

func (r TailingsRain) Span() (time.Duration, time.Duration) { return r.Start, r.Start + r.Duration }
func (r TailingsRain) Sensors() []SensorRef                 { return r.parts().sensors() }
func (r TailingsRain) Apply(ref SensorRef, elapsed time.Duration, baseline, v float64) (float64, bool) {
	return r.parts().apply(ref, elapsed, baseline, v)
}

// Neighbour is a detector near a leak source, Distance metres away.
type Neighbour struct {
	Sensor   string  `yaml:"sensor"`
	Distance float64 `yaml:"distance"`
}

// GasSpread is a leak at one detector that drifts to its neighbours: a
// neighbour Distance metres away sees the same ramp Distance/Speed later,
// its peak scaled by exp(−Distance/DecayLength) as the cloud dilutes.
// Neighbours are at the source's site.
type GasSpread struct {
	Source      GasLeak     `yaml:",inline"`
	Neighbours  []Neighbour `yaml:"neighbours"`
	Speed       float64     `yaml:"speed"`        // m/s
	DecayLength float64     `yaml:"decay_length"` // m
}

// DefaultSpreadSpeed is a light-wind drift speed, m/s.
const DefaultSpreadSpeed = 0.5

func (g GasSpread) parts() composite {
	speed := g.Speed
	if speed <= 0 {
		speed = DefaultSpreadSpeed
	}
	c := composite{{SensorRef{g.Source.Site, g.Source.Sensor}, g.Source}}
	for _, n := range g.Neighbours {
		l := g.Source
		l.Sensor = n.Sensor
		l.Start += time.Duration(n.Distance / speed * float64(time.Second))
		if g.DecayLength > 0 {
			l.Peak *= math.Exp(-n.Distance / g.DecayLength)
		}
		c = append(c, part{SensorRef{l.Site, l.Sensor}, l})
	}
	return c
}

func (g GasSpread) Validate() error {
	err := g.Source.Validate()
	if err == nil && (g.Speed < 0 || g.DecayLength < 0) {
		err = errors.New("speed and decay_length must not be negative")
	}
	for _, n := range g.Neighbours {
		if err == nil && (n.Sensor == "" || n.Distance < 0) {
			err = errors.New("every neighbour needs a sensor and a distance that is not negative")
		}
	}
	if err != nil {
		return fmt.Errorf("gas spread: %w", err)
	}
	return nil
}

func (g GasSpread) Span() (time.Duration, time.Duration) { return g.parts().span() }
func (g GasSpread) Sensors() []SensorRef                 { return g.parts().sensors() }
func (g GasSpread) Apply(ref SensorRef, elapsed time.Duration, baseline, v float64) (float64, bool) {
	return g.parts().apply(ref, elapsed, baseline, v)
}

// StuckSensor freezes a sensor's reading, as a transmitter with a dead
// element or a frozen 4–20 mA loop does: it reports Value (or its
// baseline when Value is nil) for Duration.
type StuckSensor struct {
	Site     string        `yaml:"site"`
	Sensor   string        `yaml:"sensor"`
	Start    time.Duration `yaml:"start"`
	Duration time.Duration `yaml:"duration"`
	Value    *float64      `yaml:"value"`
}

func (s StuckSensor) Validate() error {
	err := needSensor(s.Site, s.Sensor)
	if err == nil && (negative(s.Start) || s.Duration <= 0) {
		err = errors.New("start must not be negative and duration must be positive")
	}
	if err != nil {
		return fmt.Errorf("stuck sensor %s/%s: %w", s.Site, s.Sensor, err)
	}
	return nil
}

func (s StuckSensor) Span() (time.Duration, time.Duration) { return s.Start, s.Start + s.Duration }
func (s StuckSensor) Sensors() []SensorRef                 { return []SensorRef{{s.Site, s.Sensor}} }
func (s StuckSensor) Apply(_ SensorRef, elapsed time.Duration, baseline, v float64) (float64, bool) {
	if !within(elapsed, s.Start, s.Duration) {
		return v, false
	}
	if s.Value != nil {
		return *s.Value, true
	}
	return baseline, true
}

// DriftingSensor adds a growing error to a sensor's noisy reading, as an
// uncalibrated catalytic element does: RatePerHour times the hours since
// Start, for Duration.
type DriftingSensor struct {
	Site        string        `yaml:"site"`
	Sensor      string        `yaml:"sensor"`
	Start       time.Duration `yaml:"start"`
	Duration    time.Duration `yaml:"duration"`
	RatePerHour float64       `yaml:"rate_per_hour"`
}

func (d DriftingSensor) Validate() error {
	err := needSensor(d.Site, d.Sensor)
	if err == nil && (negative(d.Start) || d.Duration <= 0 || d.RatePerHour == 0) {
		err = errors.New("start must not be negative, duration positive and rate_per_hour not zero")
	}
	if err != nil {
		return fmt.Errorf("drifting sensor %s/%s: %w", d.Site, d.Sensor, err)
	}
	return nil
}

func (d DriftingSensor) Span() (time.Duration, time.Duration) { return d.Start, d.Start + d.Duration }
func (d DriftingSensor) Sensors() []SensorRef                 { return []SensorRef{{d.Site, d.Sensor}} }
func (d DriftingSensor) Apply(_ SensorRef, elapsed time.Duration, _, v float64) (float64, bool) {
	if !within(elapsed, d.Start, d.Duration) {
		return v, false
	}
	return v + d.RatePerHour*(elapsed-d.Start).Hours(), true
}

// Spikes adds Height to a sensor's reading for Width every Every, from
// Start for Duration: the spurious jumps (冒大数) of a loose connector or
// interference.
type Spikes struct {
	Site     string        `yaml:"site"`
	Sensor   string        `yaml:"sensor"`
	Start    time.Duration `yaml:"start"`
	Duration time.Duration `yaml:"duration"`
	Every    time.Duration `yaml:"every"`
	Width    time.Duration `yaml:"width"`
	Height   float64       `yaml:"height"`
}

func (s Spikes) Validate() error {
	err := needSensor(s.Site, s.Sensor)
	switch {
	case err != nil:
	case negative(s.Start) || s.Duration <= 0 || s.Every <= 0 || s.Width <= 0 || s.Width > s.Every:
		err = errors.New("start must not be negative; duration, every and width positive; width at most every")
	case s.Height == 0:
		err = errors.New("height must not be zero")
	}
	if err != nil {
		return fmt.Errorf("spikes %s/%s: %w", s.Site, s.Sensor, err)
	}
	return nil
}

func (s Spikes) Span() (time.Duration, time.Duration) { return s.Start, s.Start + s.Duration }
func (s Spikes) Sensors() []SensorRef                 { return []SensorRef{{s.Site, s.Sensor}} }
func (s Spikes) Apply(_ SensorRef, elapsed time.Duration, _, v float64) (float64, bool) {
	if !within(elapsed, s.Start, s.Duration) || (elapsed-s.Start)%s.Every >= s.Width {
		return v, false
	}
	return v + s.Height, true
}

// SensorOffline drops a sensor from its gateway's batches for Duration:
// a cut cable or a dead transmitter the gateway no longer polls.
type SensorOffline struct {
	Site     string        `yaml:"site"`
	Sensor   string        `yaml:"sensor"`
	Start    time.Duration `yaml:"start"`
	Duration time.Duration `yaml:"duration"`
}

func (s SensorOffline) Validate() error {
	err := needSensor(s.Site, s.Sensor)
	if err == nil && (negative(s.Start) || s.Duration <= 0) {
		err = errors.New("start must not be negative and duration must be positive")
	}
	if err != nil {
		return fmt.Errorf("sensor offline %s/%s: %w", s.Site, s.Sensor, err)
	}
	return nil
}

func (s SensorOffline) Span() (time.Duration, time.Duration) { return s.Start, s.Start + s.Duration }
func (s SensorOffline) Sensors() []SensorRef                 { return []SensorRef{{s.Site, s.Sensor}} }
func (s SensorOffline) Apply(_ SensorRef, elapsed time.Duration, _, v float64) (float64, bool) {
	if !within(elapsed, s.Start, s.Duration) {
		return v, false
	}
	return math.NaN(), true
}

// GatewayOffline takes a gateway off the air for Duration: it stops
// publishing and its retained status turns "offline". By default the
// gateway publishes that status itself and keeps its session, as a
// gateway whose field network failed would. With Abrupt it drops its TCP
// connection without a DISCONNECT, as a gateway losing power does, so
// the broker publishes its will; it connects afresh when it returns.
type GatewayOffline struct {
	Site     string        `yaml:"site"`
	ID       string        `yaml:"gateway"`
	Start    time.Duration `yaml:"start"`
	Duration time.Duration `yaml:"duration"`
	Abrupt   bool          `yaml:"abrupt"`
}

func (g GatewayOffline) Validate() error {
	if g.Site == "" || g.ID == "" || negative(g.Start) || g.Duration <= 0 {
		return fmt.Errorf("gateway offline %s/%s: site and gateway are required, start must not be negative and duration must be positive", g.Site, g.ID)
	}
	return nil
}

func (g GatewayOffline) Span() (time.Duration, time.Duration) { return g.Start, g.Start + g.Duration }
func (g GatewayOffline) Sensors() []SensorRef                 { return nil }
func (g GatewayOffline) Apply(_ SensorRef, _ time.Duration, _, v float64) (float64, bool) {
	return v, false
}
func (g GatewayOffline) Gateway() GatewayRef { return GatewayRef{g.Site, g.ID} }
func (g GatewayOffline) Offline(elapsed time.Duration) bool {
	return within(elapsed, g.Start, g.Duration)
}
func (g GatewayOffline) ClockOffset(time.Duration) time.Duration { return 0 }

// ClockSkew sets a gateway's clock Offset ahead (negative: behind) for
// Duration, as a gateway without NTP drifts. Its readings keep their
// values; only their timestamps move.
type ClockSkew struct {
	Site     string        `yaml:"site"`
	ID       string        `yaml:"gateway"`
	Start    time.Duration `yaml:"start"`
	Duration time.Duration `yaml:"duration"`
	Offset   time.Duration `yaml:"offset"`
}

func (c ClockSkew) Validate() error {
	if c.Site == "" || c.ID == "" || negative(c.Start) || c.Duration <= 0 || c.Offset == 0 {
		return fmt.Errorf("clock skew %s/%s: site and gateway are required, start must not be negative, duration must be positive and offset not zero", c.Site, c.ID)
	}
	return nil
}

func (c ClockSkew) Span() (time.Duration, time.Duration) { return c.Start, c.Start + c.Duration }
func (c ClockSkew) Sensors() []SensorRef                 { return nil }
func (c ClockSkew) Apply(_ SensorRef, _ time.Duration, _, v float64) (float64, bool) {
	return v, false
}
func (c ClockSkew) Gateway() GatewayRef        { return GatewayRef{c.Site, c.ID} }
func (c ClockSkew) Offline(time.Duration) bool { return false }
func (c ClockSkew) ClockOffset(elapsed time.Duration) time.Duration {
	if within(elapsed, c.Start, c.Duration) {
		return c.Offset
	}
	return 0
}
