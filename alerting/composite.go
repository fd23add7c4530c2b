package alerting

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/riskmon/riskmon/sensors"
)

// CompositeRule raises an alert when a boolean expression over the latest
// values of a site's sensors holds, e.g. methane rising while ventilation
// fails: "CH4_101 >= 1.0 && WS_102 < 0.25". A sensor is named by its id
// with every character other than a letter, digit or '_' replaced by '_'
// (CH4-101 is CH4_101); an id starting with a digit gets a leading '_'.
//
// The expression is written in expr (github.com/expr-lang/expr) and
// limited to what a limit check needs, so that evaluating it costs no
// allocation: numbers, sensor names, true/false, + - * /, comparisons,
// && || ! (and/or/not), parentheses and abs, min, max.
type CompositeRule struct {
	// ID names the rule; its alerts carry it as Rule and as subject.
	ID   string
	Site string
	Expr string
	// Level defaults to 3 yellow.
	Level sensors.Level
	// For is how long, in device time, the expression must hold before
	// the alert is raised.
	For time.Duration
	// OffDelay is how long, in device time, the expression must have
	// stopped holding before the alert resolves; holding again within it
	// cancels the clearing.
	OffDelay time.Duration
	// MaxAge is how old a referenced sensor's latest reading may be; while
	// one is older or missing the rule is not evaluated and its alert
	// keeps its state (silence has its own alert, sensor_stale). Default
	// 3 × the longest interval of the referenced kinds.
	MaxAge time.Duration
}

// composite is a compiled CompositeRule with its state, guarded by its own
// lock, taken after the shard lock of the sensor whose reading runs it.
type composite struct {
	id, site, src string
	level         sensors.Level
	forDur        int64
	offDur        int64
	maxAge        int64
	names         []string // referenced sensor ids, in vals order
	eval          func(vals []float64) bool
	fp            uint64 // fingerprint of the definition; see Snapshot

	mu      sync.Mutex
	vals    []float64
	at      []int64 // device time of each value, Unix ns; 0 before the first
	st      exposureState
	pending int64 // device time the expression began to hold; 0 when it does not
	// clearing is the device time the expression stopped holding while
	// the alert is open and the off-delay runs; 0 when not clearing.
	clearing int64
}

// ExprName is how a composite expression names a sensor id: characters
// other than ASCII letters, digits and '_' become '_', and a leading
// digit gets a '_' before it.
func ExprName(id string) string {
	b := []byte(id)
	for i, c := range b {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		return "_" + string(b)
	}
	return string(b)
}

// compileComposites checks and compiles the rules once, and ties each to
// the subjects of the sensors it reads.
func (set *ruleSet) compileComposites(reg *sensors.Registry, rules []CompositeRule) ([]*composite, error) {
	var out []*composite
	var errs []error
	seen := map[string]bool{}
	for _, cfg := range rules {
		c, err := compileComposite(reg, cfg)
		if err == nil && seen[cfg.Site+"/"+cfg.ID] {
			err = errors.New("duplicate rule id")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("composite rule %s/%s: %w", cfg.Site, cfg.ID, err))
			continue
		}
		seen[cfg.Site+"/"+cfg.ID] = true
		for i, id := range c.names {
			k := subjectKey{c.site, id}
			s := set.subjects[k]
			if s == nil {
				// A sensor without rules of its own gets a subject so that
				// its readings reach the rule.
				sen, _ := reg.Lookup(c.site, id)
				s = &subject{subjectInfo: subjectInfo{site: sen.Site, sensor: sen.ID, kind: sen.Kind, unit: sen.KindInfo().Unit, gateway: sen.Gateway},
					shard: set.shards[shardIndex(sen.Site, sen.Gateway, len(set.shards))], stale: -1}
				set.subjects[k] = s
				s.shard.subjects = append(s.shard.subjects, s)
			}
			s.links = append(s.links, link{c: c, i: i})
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

func compileComposite(reg *sensors.Registry, cfg CompositeRule) (*composite, error) {
	if cfg.ID == "" {
		return nil, errors.New("a composite rule needs an id")
	}
	if _, ok := reg.Site(cfg.Site); !ok {
		return nil, fmt.Errorf("no site %q", cfg.Site)
	}
	level := levelOr(cfg.Level, sensors.LevelYellow)
	if level < sensors.LevelRed || level > sensors.LevelBlue {
		return nil, fmt.Errorf("level %d is not 1-4", level)
	}
	if cfg.For < 0 || cfg.MaxAge < 0 || cfg.OffDelay < 0 {
		return nil, fmt.Errorf("for %s, off-delay %s and max age %s must not be negative", cfg.For, cfg.OffDelay, cfg.MaxAge)
	}
	// The environment the checker sees: every sensor of the site by name.
	env := map[string]any{}
	ids := map[string]*sensors.Sensor{}
	ambiguous := map[string]bool{}
	for _, s := range reg.Sensors() {
		if s.Site != cfg.Site {
			continue
		}
		n := ExprName(s.ID)
		if _, dup := ids[n]; dup {
			ambiguous[n] = true
		}
		env[n], ids[n] = 0.0, s
	}
	// expr checks names, types and that the result is a bool, with
	// positions in its messages.
	if _, err := expr.Compile(cfg.Expr, expr.Env(env), expr.AsBool(), expr.Optimize(false)); err != nil {
		return nil, fmt.Errorf("expression %q: %w", cfg.Expr, err)
	}
	tree, err := parser.Parse(cfg.Expr)
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", cfg.Expr, err)
	}
	c := &composite{id: cfg.ID, site: cfg.Site, src: cfg.Expr, level: level, forDur: int64(cfg.For), offDur: int64(cfg.OffDelay),
		maxAge: int64(cfg.MaxAge)}
	b := &exprBuilder{index: map[string]int{}, ids: ids, ambiguous: ambiguous}
	if c.eval, err = b.boolean(tree.Node); err != nil {
		return nil, fmt.Errorf("expression %q: %w", cfg.Expr, err)
	}
	if len(b.names) == 0 {
		return nil, fmt.Errorf("expression %q reads no sensor", cfg.Expr)
	}
	var interval time.Duration
	for _, n := range b.names {
		s := ids[n]
		c.names = append(c.names, s.ID)
		interval = max(interval, s.KindInfo().Interval)
	}
	if c.maxAge == 0 {
		c.maxAge = int64(3 * interval)
	}
	if c.maxAge <= 0 {
		return nil, errors.New("max age must be positive (the sensors' kinds have no interval)")
	}
	c.vals = make([]float64, len(c.names))
	c.at = make([]int64, len(c.names))
	c.fp = fingerprint("composite", c.id, c.site, c.src, c.level, c.forDur, c.offDur, c.maxAge, c.names)
	return c, nil
}

// exprBuilder turns a checked expr tree into closures over a slice of
// values: expr's own VM boxes every float it pushes, an allocation per
// reading that a closure tree avoids.
type exprBuilder struct {
	index     map[string]int // expression name => position in vals
	names     []string
	ids       map[string]*sensors.Sensor
	ambiguous map[string]bool
}

type (
	numFn  = func(vals []float64) float64
	boolFn = func(vals []float64) bool
)

func notSupported(n ast.Node) error {
	return fmt.Errorf("%q at position %d is not supported in composite rules (numbers, sensor names, + - * /, comparisons, && || !, abs, min, max)",
		n.String(), n.Location().From+1)
}

func (b *exprBuilder) number(n ast.Node) (numFn, error) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		v := float64(n.Value)
		return func([]float64) float64 { return v }, nil
	case *ast.FloatNode:
		v := n.Value
		return func([]float64) float64 { return v }, nil
	case *ast.IdentifierNode:
		if b.ambiguous[n.Value] {
			return nil, fmt.Errorf("%s names more than one sensor of the site", n.Value)
		}
		i, ok := b.index[n.Value]
		if !ok {
			i = len(b.names)
			b.index[n.Value] = i
			b.names = append(b.names, n.Value)
		}
		return func(vals []float64) float64 { return vals[i] }, nil
	case *ast.UnaryNode:
		x, err := b.number(n.Node)
		if err != nil {
			return nil, err
		}
		switch n.Operator {
		case "-":
			return func(vals []float64) float64 { return -x(vals) }, nil
		case "+":
			return x, nil
		}
	case *ast.BinaryNode:
		l, r, err := b.pair(n.Left, n.Right)
		if err != nil {
			return nil, err
		}
		switch n.Operator {
		case "+":
			return func(v []float64) float64 { return l(v) + r(v) }, nil
		case "-":
			return func(v []float64) float64 { return l(v) - r(v) }, nil
		case "*":
			return func(v []float64) float64 { return l(v) * r(v) }, nil
		case "/":
			return func(v []float64) float64 { return l(v) / r(v) }, nil
		}
	case *ast.BuiltinNode:
		var args []numFn
		for _, a := range n.Arguments {
			f, err := b.number(a)
			if err != nil {
				return nil, err
			}
			args = append(args, f)
		}
		switch {
		case n.Name == "abs" && len(args) == 1:
			x := args[0]
			return func(v []float64) float64 { return math.Abs(x(v)) }, nil
		case (n.Name == "min" || n.Name == "max") && len(args) >= 1:
			pick := math.Min
			if n.Name == "max" {
				pick = math.Max
			}
			return func(v []float64) float64 {
				out := args[0](v)
				for _, a := range args[1:] {
					out = pick(out, a(v))
				}
				return out
			}, nil
		}
	}
	return nil, notSupported(n)
}

func (b *exprBuilder) pair(l, r ast.Node) (numFn, numFn, error) {
	lf, err := b.number(l)
	if err != nil {
		return nil, nil, err
	}
	rf, err := b.number(r)
	return lf, rf, err
}

func (b *exprBuilder) boolean(n ast.Node) (boolFn, error) {
	switch n := n.(type) {
	case *ast.BoolNode:
		v := n.Value
		return func([]float64) bool { return v }, nil
	case *ast.UnaryNode:
		if n.Operator == "!" || n.Operator == "not" {
			x, err := b.boolean(n.Node)
			if err != nil {
				return nil, err
			}
			return func(v []float64) bool { return !x(v) }, nil
		}
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and", "||", "or":
			l, err := b.boolean(n.Left)
			if err != nil {
				return nil, err
			}
			r, err := b.boolean(n.Right)
			if err != nil {
				return nil, err
			}
			if n.Operator == "&&" || n.Operator == "and" {
				return func(v []float64) bool { return l(v) && r(v) }, nil
			}
			return func(v []float64) bool { return l(v) || r(v) }, nil
		}
		var cmp func(a, b float64) bool
		switch n.Operator {
		case "<":
			cmp = func(a, b float64) bool { return a < b }
		case "<=":
			cmp = func(a, b float64) bool { return a <= b }
		case ">":
			cmp = func(a, b float64) bool { return a > b }
		case ">=":
			cmp = func(a, b float64) bool { return a >= b }
		case "==":
			cmp = func(a, b float64) bool { return a == b }
		case "!=":
			cmp = func(a, b float64) bool { return a != b }
		default:
			return nil, notSupported(n)
		}
		l, r, err := b.pair(n.Left, n.Right)
		if err != nil {
			return nil, err
		}
		return func(v []float64) bool { return cmp(l(v), r(v)) }, nil
	}
	return nil, notSupported(n)
}

// evaluateComposite records the i-th referenced sensor's reading and runs
// the rule. It does not allocate unless the alert changes.
func (e *Engine) evaluateComposite(c *composite, i int, v float64, at int64, late bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.vals[i], c.at[i] = v, at
	for _, t := range c.at {
		if t == 0 || t < at-c.maxAge {
			return // a value is unknown: keep the state
		}
	}
	holds := c.eval(c.vals)
	from := c.st.level
	c.st.value = v
	switch {
	case !holds && from != sensors.LevelNone && c.offDur > 0:
		// Off-delay: the alert holds until the expression has stayed
		// false for it.
		if c.clearing == 0 {
			c.clearing = at
		}
		if at-c.clearing >= c.offDur {
			c.clearing, c.pending = 0, 0
			c.st.level = sensors.LevelNone
		}
	case !holds:
		c.pending = 0
		c.st.level = sensors.LevelNone
	case from != sensors.LevelNone:
		c.clearing = 0
	case c.pending == 0 && c.forDur > 0:
		c.pending = at
	case c.pending == 0 || at-c.pending >= c.forDur:
		c.st.level, c.st.since = c.level, at
		if c.pending != 0 {
			c.st.since = c.pending
		}
	}
	typ := classify(from, c.st.level)
	if typ == 0 {
		return
	}
	tr := transition{typ: typ, from: from, to: c.st.level}
	e.record(c.id, tr)
	e.logTransition(c.site, c.id, c.id, earlyPhase(from), earlyPhase(c.st.level), v, at)
	ev := c.event(tr, at)
	ev.Late = late
	e.sink.Emit(ev)
}

// event builds the Event of a transition; the subject is the rule id and
// Value the reading that decided.
func (c *composite) event(tr transition, at int64) Event {
	var b strings.Builder
	for i, id := range c.names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(id + " " + formatValue(c.vals[i]))
	}
	msg := fmt.Sprintf("%s at %s: %s holds (%s)", c.id, c.site, c.src, b.String())
	if tr.typ == EventResolved {
		msg = fmt.Sprintf("%s at %s: %s no longer holds (%s) (%s resolved)", c.id, c.site, c.src, b.String(), c.id)
	}
	return Event{
		AlertID:   alertID(c.id, c.site, c.id, c.st.since),
		Rule:      c.id,
		Site:      c.site,
		Sensor:    c.id,
		Type:      tr.typ,
		Level:     tr.to,
		PrevLevel: tr.from,
		Value:     c.st.value,
		At:        unixTime(at),
		StartsAt:  unixTime(c.st.since),
		Message:   msg,
	}
}

// activeComposites lists the pending and firing composite alerts.
func (set *ruleSet) activeComposites(out []Alert) []Alert {
	for _, c := range set.composites {
		c.mu.Lock()
		var last int64
		for _, t := range c.at {
			last = max(last, t)
		}
		a := Alert{Rule: c.id, Site: c.site, Sensor: c.id, Value: c.st.value, LastAt: unixTime(last)}
		switch {
		case c.st.level != sensors.LevelNone:
			a.State, a.Level, a.Since, a.Clearing = StateFiring, c.st.level, unixTime(c.st.since), c.clearing != 0
			a.ID = alertID(c.id, c.site, c.id, c.st.since)
			out = append(out, a)
		case c.pending != 0:
			a.State, a.Level, a.Since = StatePending, c.level, unixTime(c.pending)
			a.ID = alertID(c.id, c.site, c.id, c.pending)
			out = append(out, a)
		}
		c.mu.Unlock()
	}
	return out
}
