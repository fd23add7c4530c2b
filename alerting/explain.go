package alerting

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// Explanation is the rules the engine gives one sensor under some
// Options, as plain data: what rules show prints and what an API can
// serve.
type Explanation struct {
	Site, Sensor string
	Kind         sensors.KindID
	Unit         string
	Rules        []ExplainedRule
}

// ExplainedRule is one rule a sensor takes part in.
type ExplainedRule struct {
	// Name is the rule's name as its alerts carry it: "ch4_high",
	// "ch4_forecast", "sensor_stale", a group's or a composite rule's id.
	Name string
	// Kind is threshold, rate, trend, forecast, stuck, jump, stale,
	// exposure, group or composite.
	Kind string
	// Off says the rule is turned off for the sensor; the fields below are
	// then empty.
	Off bool
	// Levels are the levels the rule raises, most severe last.
	Levels []sensors.Level
	// Setpoints are a threshold rule's trip and restore values.
	Setpoints []sensors.Setpoint
	OnDelay   time.Duration
	OffDelay  time.Duration
	MOfN      MOfN
	Window    time.Duration
	// Settings are the rule's other parameters, in the order the rule
	// file names them.
	Settings []Setting
	// Layer is where the rule's settings came from: a rule file's place
	// and layer, or the built-in default.
	Layer string
	// Note says why a rule that is on will not fire, or what it reads.
	Note string
}

// Setting is one parameter of a rule, as text.
type Setting struct{ Name, Value string }

// Layers names where a sensor's rule settings came from. The rule files
// implement it; Explain works without (nil).
type Layers interface {
	// Layer is the most specific layer that set rule for s ("threshold",
	// "rate", "trend", "forecast", "stuck", "jump", "stale",
	// "exposure"), as text such as "rules.yaml:31 (sensor)"; "" when no
	// layer set it.
	Layer(s *sensors.Sensor, rule string) string
}

// builtIn is the Layer of a setting no layer changed.
const builtIn = "built-in"

// Explain is the rules opts give sensor s of reg, read as the engine
// reads them: the timing TimingFor gives, the pack PackFor gives with
// every default filled in, the exposure limits, and the groups and
// composite rules that read s.
func Explain(reg *sensors.Registry, s *sensors.Sensor, opts Options, layers Layers) Explanation {
	layer := func(rule string) string {
		if layers != nil {
			if l := layers.Layer(s, rule); l != "" {
				return l
			}
		}
		return builtIn
	}
	x := Explanation{Site: s.Site, Sensor: s.ID, Kind: s.Kind, Unit: s.KindInfo().Unit}
	x.Rules = append(x.Rules, explainThreshold(s, opts, layer("threshold"))...)
	x.Rules = append(x.Rules, explainPack(s, PackFor(s, opts).Effective(), layer)...)
	if r, ok := explainExposure(s, opts, layer("exposure")); ok {
		x.Rules = append(x.Rules, r)
	}
	x.Rules = append(x.Rules, explainShared(reg, s, opts)...)
	return x
}

// explainThreshold is one rule per direction, as defaultRules builds
// them.
func explainThreshold(s *sensors.Sensor, opts Options, layer string) []ExplainedRule {
	t := TimingFor(s, opts)
	var out []ExplainedRule
	for _, dir := range []sensors.Direction{sensors.Above, sensors.Below} {
		r := ExplainedRule{Name: string(s.Kind) + "_high", Kind: "threshold", OnDelay: t.For, OffDelay: t.OffDelay, MOfN: t.MOfN, Layer: layer}
		if dir == sensors.Below {
			r.Name = string(s.Kind) + "_low"
		}
		for _, sp := range s.EffectiveSetpoints() {
			if sp.Direction == dir {
				r.Setpoints = append(r.Setpoints, sp)
				r.Levels = append(r.Levels, sp.Level)
			}
		}
		if len(r.Setpoints) > 0 {
			out = append(out, r)
		}
	}
	return out
}

// explainPack lists the early-warning and sensor-health rules, on or off.
func explainPack(s *sensors.Sensor, p RulePack, layer func(string) string) []ExplainedRule {
	k := string(s.Kind)
	rule := func(name, kind string, on bool, level sensors.Level, window time.Duration, set ...Setting) ExplainedRule {
		r := ExplainedRule{Name: name, Kind: kind, Off: !on, Layer: layer(kind)}
		if on {
			r.Levels, r.Window, r.Settings = []sensors.Level{level}, window, set
		}
		return r
	}
	var out []ExplainedRule
	if c := p.Rate; c != nil {
		out = append(out, rule(k+"_rate", "rate", true, c.Level, c.Window, dirSetting(c.Direction),
			Setting{"limit", perSetting(c.Limit, s, c.Per)}))
	} else {
		out = append(out, rule(k+"_rate", "rate", false, 0, 0))
	}
	if c := p.Trend; c != nil {
		out = append(out, rule(k+"_trend", "trend", true, c.Level, c.Window, dirSetting(c.Direction),
			Setting{"limit", perSetting(c.Limit, s, c.Per)}, Setting{"min_samples", strconv.Itoa(samplesOr(c.MinSamples))}))
	} else {
		out = append(out, rule(k+"_trend", "trend", false, 0, 0))
	}
	if c := p.Forecast; c != nil {
		r := rule(k+"_forecast", "forecast", true, c.Level, c.Window, Setting{"horizon", c.Horizon.String()},
			Setting{"min_slope", perSetting(c.MinSlope, s, time.Minute)}, Setting{"min_samples", strconv.Itoa(samplesOr(c.MinSamples))})
		if len(s.EffectiveSetpoints()) == 0 {
			// compilePack leaves such a forecast out.
			r.Note = "no setpoint to forecast: it never fires"
		}
		out = append(out, r)
	} else {
		out = append(out, rule(k+"_forecast", "forecast", false, 0, 0))
	}
	if c := p.Stuck; c != nil {
		out = append(out, rule(RuleSensorStuck, "stuck", true, c.Level, c.Window,
			Setting{"min_samples", strconv.Itoa(c.MinSamples)}, Setting{"tolerance", num(c.Tolerance)}))
	} else {
		out = append(out, rule(RuleSensorStuck, "stuck", false, 0, 0))
	}
	if c := p.Jump; c != nil {
		out = append(out, rule(RuleSensorJump, "jump", true, c.Level, 0, Setting{"fraction", num(c.Fraction)}, Setting{"hold", c.Hold.String()}))
	} else {
		out = append(out, rule(RuleSensorJump, "jump", false, 0, 0))
	}
	if c := p.Stale; c != nil {
		r := rule(RuleSensorStale, "stale", true, c.Level, 0, Setting{"factor", num(c.Factor)})
		r.Note = fmt.Sprintf("after %s without a reading", time.Duration(c.Factor*float64(s.KindInfo().Interval)))
		out = append(out, r)
	} else {
		out = append(out, rule(RuleSensorStale, "stale", false, 0, 0))
	}
	return out
}

func explainExposure(s *sensors.Sensor, opts Options, layer string) (ExplainedRule, bool) {
	limits := opts.Exposure
	if limits == nil {
		limits = DefaultExposureLimits()
	}
	l, ok := limits[s.Kind]
	if !ok || (l.TWA <= 0 && l.STEL <= 0) {
		return ExplainedRule{}, false
	}
	r := ExplainedRule{Name: string(s.Kind) + "_twa/_stel", Kind: "exposure", Levels: []sensors.Level{levelOr(l.Level, sensors.LevelOrange)}, Layer: layer}
	// In the sensor's unit, as the engine judges them (compileExposure).
	k := s.KindInfo()
	if v, ok := k.FromOwnUnit(l.TWA); ok {
		l.TWA = v
	}
	if v, ok := k.FromOwnUnit(l.STEL); ok {
		l.STEL = v
	}
	if l.TWA > 0 {
		r.Settings = append(r.Settings, Setting{"twa", num(l.TWA) + " " + k.Unit})
	}
	if l.STEL > 0 {
		r.Settings = append(r.Settings, Setting{"stel", num(l.STEL) + " " + k.Unit})
	}
	if l.Basis != "" {
		r.Settings = append(r.Settings, Setting{"basis", l.Basis})
	}
	return r, true
}

// explainShared lists the groups and composite rules that read s. A
// composite rule's sensors are the ones the engine compiles it to read.
func explainShared(reg *sensors.Registry, s *sensors.Sensor, opts Options) []ExplainedRule {
	var out []ExplainedRule
	for _, g := range opts.Groups {
		if g.Site != s.Site || !slices.Contains(g.Sensors, s.ID) {
			continue
		}
		out = append(out, ExplainedRule{Name: g.ID, Kind: "group", Settings: []Setting{
			{"sensors", strings.Join(g.Sensors, ", ")}, {"tolerance", num(g.Tolerance)}, {"vote", strconv.Itoa(g.Vote)}}})
	}
	for _, c := range opts.Composite {
		if c.Site != s.Site || reg == nil {
			continue
		}
		cc, err := compileComposite(reg, c)
		if err != nil || !slices.Contains(cc.names, s.ID) {
			continue
		}
		out = append(out, ExplainedRule{Name: c.ID, Kind: "composite", Levels: []sensors.Level{cc.level},
			OnDelay: c.For, OffDelay: c.OffDelay, Settings: []Setting{{"expr", c.Expr}}})
	}
	return out
}

func dirSetting(d sensors.Direction) Setting { return Setting{"direction", d.String()} }

// perSetting is a rate "0.05 %CH4/1m0s".
func perSetting(v float64, s *sensors.Sensor, per time.Duration) string {
	return fmt.Sprintf("%s %s/%s", num(v), s.KindInfo().Unit, perOr(per))
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// WriteText renders x for a terminal: the sensor, then one line per
// rule and an indented line of its setpoints.
func (x Explanation) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "sensor %s/%s, kind %s (%s)\n", x.Site, x.Sensor, x.Kind, x.Unit)
	for _, r := range x.Rules {
		b.WriteString(r.text())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r ExplainedRule) text() string {
	var parts []string
	add := func(format string, a ...any) { parts = append(parts, fmt.Sprintf(format, a...)) }
	if r.Off {
		add("off")
	}
	if len(r.Levels) > 0 {
		ls := make([]string, len(r.Levels))
		for i, l := range r.Levels {
			ls[i] = l.String()
		}
		add("level %s", strings.Join(ls, " then "))
	}
	if r.Kind == "threshold" || r.OnDelay > 0 || r.OffDelay > 0 {
		add("for %s, off_delay %s", r.OnDelay, r.OffDelay)
	}
	if r.MOfN.M > 0 {
		add("%d of %d readings", r.MOfN.M, r.MOfN.N)
	}
	if r.Window > 0 {
		add("window %s", r.Window)
	}
	for _, s := range r.Settings {
		add("%s %s", s.Name, s.Value)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", r.Kind, r.Name, strings.Join(parts, ", "))
	if r.Layer != "" {
		fmt.Fprintf(&b, " [%s]", r.Layer)
	}
	if r.Note != "" {
		fmt.Fprintf(&b, " (%s)", r.Note)
	}
	b.WriteByte('\n')
	for _, sp := range r.Setpoints {
		fmt.Fprintf(&b, "  level %s %s %g (restore %g)\n", sp.Level, sp.Direction, sp.Value, sp.Clear)
	}
	return b.String()
}
