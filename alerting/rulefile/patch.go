package rulefile

import (
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// patch is one layer's change to one rule: off, or the fields it sets.
// Fields it does not name keep the value of the layer below, so a site
// can change one limit of its kind's rule and keep the rest.
type patch[T any] struct {
	at  pos
	off bool
	set []setter[T]
}

// setter sets one field. An amount (a rate limit, a tolerance) is in the
// unit the layer is written in and is multiplied by the scale on into the
// sensor's; any other field ignores the scale.
type setter[T any] struct {
	fn     func(c *T, scale float64)
	amount bool
}

// amounts reports whether the patch sets a field in a unit.
func (p *patch[T]) amounts() bool {
	for _, s := range p.set {
		if s.amount {
			return true
		}
	}
	return false
}

// on applies the patch over cur, the rule as the layers below left it
// (nil: off or absent). A patch that turns an absent rule on starts from
// start, or from a zero rule when start is nil. scale converts its
// amounts into the sensor's unit; 0 leaves them out, for a unit with no
// fixed relation to the layer's (the check reports those).
func (p *patch[T]) on(cur, start *T, scale float64) *T {
	if p.off {
		return nil
	}
	var c T
	switch {
	case cur != nil:
		c = *cur
	case start != nil:
		c = *start
	}
	for _, f := range p.set {
		if f.amount && scale == 0 {
			continue
		}
		f.fn(&c, scale)
	}
	return &c
}

// field reads one key of a rule; it returns false after reporting a bad
// value.
type field[T any] func(l *loader, n *yaml.Node, what string) (setter[T], bool)

// fieldSet is a rule's keys, in the order error messages list them.
type fieldSet[T any] struct {
	keys   []string
	fields map[string]field[T]
}

func newFields[T any](kv ...any) fieldSet[T] {
	fs := fieldSet[T]{fields: map[string]field[T]{}}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		fs.keys = append(fs.keys, k)
		fs.fields[k] = kv[i+1].(field[T])
	}
	return fs
}

// readPatch reads a rule's block: "off" (or false), or a mapping of its
// fields.
func readPatch[T any](l *loader, n *yaml.Node, what string, fs fieldSet[T]) *patch[T] {
	p := &patch[T]{at: l.pos(n.Line)}
	if isOff(n) {
		p.off = true
		return p
	}
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		l.addf(n.Line, "%s: want a mapping of %s, or off", what, joinKeys(fs.keys))
		return nil
	}
	es, ok := l.mapping(n, what, fs.keys)
	if !ok {
		return nil
	}
	good := true
	for _, e := range es {
		f, ok := fs.fields[e.key](l, e.v, what+"."+e.key)
		if !ok {
			good = false
			continue
		}
		p.set = append(p.set, f)
	}
	if !good {
		return nil
	}
	return p
}

func joinKeys(keys []string) string { return strings.Join(keys, ", ") }

func durField[T any](zeroOK bool, set func(*T, time.Duration)) field[T] {
	return func(l *loader, n *yaml.Node, what string) (setter[T], bool) {
		d, ok := l.duration(n, what, zeroOK)
		return setter[T]{fn: func(c *T, _ float64) { set(c, d) }}, ok
	}
}

func numField[T any](positive bool, set func(*T, float64)) field[T] {
	return func(l *loader, n *yaml.Node, what string) (setter[T], bool) {
		v, ok := l.number(n, what, positive)
		return setter[T]{fn: func(c *T, _ float64) { set(c, v) }}, ok
	}
}

// amountField is numField for an amount in the sensor's unit: a rate, a
// slope or a tolerance, which a kind-wide layer states in the kind's own
// unit.
func amountField[T any](positive bool, set func(*T, float64)) field[T] {
	return func(l *loader, n *yaml.Node, what string) (setter[T], bool) {
		v, ok := l.number(n, what, positive)
		return setter[T]{fn: func(c *T, scale float64) { set(c, v*scale) }, amount: true}, ok
	}
}

func intField[T any](lo, hi int, set func(*T, int)) field[T] {
	return func(l *loader, n *yaml.Node, what string) (setter[T], bool) {
		v, ok := l.integer(n, what, lo, hi)
		return setter[T]{fn: func(c *T, _ float64) { set(c, v) }}, ok
	}
}

func levelField[T any](set func(*T, sensors.Level)) field[T] {
	return func(l *loader, n *yaml.Node, what string) (setter[T], bool) {
		v, ok := l.level(n, what)
		return setter[T]{fn: func(c *T, _ float64) { set(c, v) }}, ok
	}
}

func dirField[T any](set func(*T, sensors.Direction)) field[T] {
	return func(l *loader, n *yaml.Node, what string) (setter[T], bool) {
		v, ok := l.direction(n, what)
		return setter[T]{fn: func(c *T, _ float64) { set(c, v) }}, ok
	}
}

func textField[T any](set func(*T, string)) field[T] {
	return func(l *loader, n *yaml.Node, what string) (setter[T], bool) {
		v, ok := l.scalar(n, what)
		return setter[T]{fn: func(c *T, _ float64) { set(c, v) }}, ok
	}
}

// The keys of each rule, named after the alerting config fields. The
// limits of a sample count follow the engine: a fit needs 3 points and
// the window ring holds 32; M of N counts up to 32 readings.
var (
	rateFields = newFields[alerting.RateConfig](
		"direction", dirField(func(c *alerting.RateConfig, v sensors.Direction) { c.Direction = v }),
		"limit", amountField(true, func(c *alerting.RateConfig, v float64) { c.Limit = v }),
		"per", durField(false, func(c *alerting.RateConfig, v time.Duration) { c.Per = v }),
		"window", durField(false, func(c *alerting.RateConfig, v time.Duration) { c.Window = v }),
		"level", levelField(func(c *alerting.RateConfig, v sensors.Level) { c.Level = v }),
	)
	trendFields = newFields[alerting.TrendConfig](
		"direction", dirField(func(c *alerting.TrendConfig, v sensors.Direction) { c.Direction = v }),
		"limit", amountField(true, func(c *alerting.TrendConfig, v float64) { c.Limit = v }),
		"per", durField(false, func(c *alerting.TrendConfig, v time.Duration) { c.Per = v }),
		"window", durField(false, func(c *alerting.TrendConfig, v time.Duration) { c.Window = v }),
		"min_samples", intField(3, 32, func(c *alerting.TrendConfig, v int) { c.MinSamples = v }),
		"level", levelField(func(c *alerting.TrendConfig, v sensors.Level) { c.Level = v }),
	)
	forecastFields = newFields[alerting.ForecastConfig](
		"window", durField(false, func(c *alerting.ForecastConfig, v time.Duration) { c.Window = v }),
		"min_samples", intField(3, 32, func(c *alerting.ForecastConfig, v int) { c.MinSamples = v }),
		"horizon", durField(false, func(c *alerting.ForecastConfig, v time.Duration) { c.Horizon = v }),
		"min_slope", amountField(true, func(c *alerting.ForecastConfig, v float64) { c.MinSlope = v }),
		"level", levelField(func(c *alerting.ForecastConfig, v sensors.Level) { c.Level = v }),
	)
	stuckFields = newFields[alerting.StuckConfig](
		"window", durField(false, func(c *alerting.StuckConfig, v time.Duration) { c.Window = v }),
		"min_samples", intField(2, 1<<20, func(c *alerting.StuckConfig, v int) { c.MinSamples = v }),
		"tolerance", amountField(false, func(c *alerting.StuckConfig, v float64) { c.Tolerance = v }),
		"level", levelField(func(c *alerting.StuckConfig, v sensors.Level) { c.Level = v }),
	)
	jumpFields = newFields[alerting.JumpConfig](
		"fraction", numField(true, func(c *alerting.JumpConfig, v float64) { c.Fraction = v }),
		"hold", durField(true, func(c *alerting.JumpConfig, v time.Duration) { c.Hold = v }),
		"level", levelField(func(c *alerting.JumpConfig, v sensors.Level) { c.Level = v }),
	)
	staleFields = newFields[alerting.StaleConfig](
		"factor", numField(true, func(c *alerting.StaleConfig, v float64) { c.Factor = v }),
		"level", levelField(func(c *alerting.StaleConfig, v sensors.Level) { c.Level = v }),
	)
	exposureFields = newFields[alerting.ExposureLimit](
		"twa", numField(false, func(c *alerting.ExposureLimit, v float64) { c.TWA = v }),
		"stel", numField(false, func(c *alerting.ExposureLimit, v float64) { c.STEL = v }),
		"basis", textField(func(c *alerting.ExposureLimit, v string) { c.Basis = v }),
		"level", levelField(func(c *alerting.ExposureLimit, v sensors.Level) { c.Level = v }),
		"max_gap", durField(false, func(c *alerting.ExposureLimit, v time.Duration) { c.MaxGap = v }),
	)
)
