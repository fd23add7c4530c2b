package rulefile

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// Apply checks the set against reg and, when nothing is wrong, sets the
// rule fields of opts from it: For, OffDelay and MOfN from the defaults,
// KindFor, KindOffDelay and KindMOfN from the kinds, Exposure, Pack (wrapping the Pack opts
// already has, or alerting.SensorPack), and it appends the groups and
// composite rules. Values the rule files set win over those opts holds;
// a KindPack entry opts holds still replaces the pack of its kind in the
// engine, rule files included, so callers that use rule files leave
// KindPack empty.
// Groups and composite rules are compiled here, one at a time, so that
// each problem the engine would find comes back with its file and line.
// Problems come back as a *sensors.LoadError and leave opts unchanged.
func (s *Set) Apply(reg *sensors.Registry, opts *alerting.Options) error {
	return s.apply(reg, opts)
}

// apply is Apply; problems the set was read with are reported with the
// registry's.
func (s *Set) apply(reg *sensors.Registry, opts *alerting.Options) error {
	c := checker{problems: slices.Clone(s.problems)}
	s.checkRefs(&c, reg)
	base := opts.Pack
	if base == nil {
		base = alerting.SensorPack
	}
	for _, sn := range reg.Sensors() {
		s.checkPack(&c, sn, base)
	}
	exposure := s.exposure(&c, opts.Exposure)
	s.checkGroups(&c, reg)
	s.checkGuidance(&c)
	if len(c.problems) > 0 {
		return &sensors.LoadError{Problems: sortProblems(c.problems)}
	}

	s.applyTiming(opts)
	if exposure != nil {
		opts.Exposure = exposure
	}
	if s.touchesPacks() {
		opts.Pack = func(sn *sensors.Sensor) alerting.RulePack {
			p, _ := s.pack(sn, base)
			return p
		}
	}
	for _, g := range s.groups {
		opts.Groups = append(opts.Groups, g.g)
	}
	for _, r := range s.composites {
		opts.Composite = append(opts.Composite, r.c)
	}
	return nil
}

// checkRefs reports the sites, site kinds and sensors the set names
// that the registry lacks.
func (s *Set) checkRefs(c *checker, reg *sensors.Registry) {
	for site, at := range s.sites {
		if _, ok := reg.Site(site); !ok {
			c.add(at, "unknown site %q (not in the registry)", site)
		}
	}
	kindAt := map[siteKey]bool{}
	for _, sn := range reg.Sensors() {
		kindAt[siteKey{sn.Site, string(sn.Kind)}] = true
	}
	for k, b := range s.siteKinds {
		if _, ok := reg.Site(k.site); ok && !kindAt[k] {
			c.add(b.at, "site %s has no sensor of kind %s", k.site, k.id)
		}
	}
	for k, b := range s.sensors {
		if _, ok := reg.Site(k.site); !ok {
			continue
		}
		if _, ok := reg.Lookup(k.site, k.id); !ok {
			c.add(b.at, "site %s has no sensor %s", k.site, k.id)
		}
	}
}

// applyTiming sets the set's default timing, then its kinds', on opts,
// and refines the timing of each sensor by its site kind's and its own.
func (s *Set) applyTiming(opts *alerting.Options) {
	if d := s.defaults; d != nil {
		if d.forDur != nil {
			opts.For = *d.forDur
		}
		if d.offDelay != nil {
			opts.OffDelay = *d.offDelay
		}
		if d.mofn != nil {
			opts.MOfN = *d.mofn
		}
	}
	kindFor, kindOff, kindMOfN := maps.Clone(opts.KindFor), maps.Clone(opts.KindOffDelay), maps.Clone(opts.KindMOfN)
	for k, b := range s.kinds {
		if b.forDur != nil {
			kindFor = setKey(kindFor, k, *b.forDur)
		}
		if b.offDelay != nil {
			kindOff = setKey(kindOff, k, *b.offDelay)
		}
		if b.mofn != nil {
			kindMOfN = setKey(kindMOfN, k, *b.mofn)
		}
	}
	opts.KindFor, opts.KindOffDelay, opts.KindMOfN = kindFor, kindOff, kindMOfN
	if s.touchesTiming() {
		opts.Threshold = s.threshold(opts.Threshold)
	}
}

// threshold is prev, then the timing of the sensor's site kind and of
// the sensor itself: they refine the timing the kind gives.
func (s *Set) threshold(prev func(*sensors.Sensor, *alerting.ThresholdTiming)) func(*sensors.Sensor, *alerting.ThresholdTiming) {
	return func(sn *sensors.Sensor, t *alerting.ThresholdTiming) {
		if prev != nil {
			prev(sn, t)
		}
		for _, b := range [...]*block{s.siteKinds[siteKey{sn.Site, string(sn.Kind)}], s.sensors[siteKey{sn.Site, sn.ID}]} {
			if b == nil {
				continue
			}
			if b.forDur != nil {
				t.For = *b.forDur
			}
			if b.offDelay != nil {
				t.OffDelay = *b.offDelay
			}
			if b.mofn != nil {
				t.MOfN = *b.mofn
			}
		}
	}
}

func setKey[V any](m map[sensors.KindID]V, k sensors.KindID, v V) map[sensors.KindID]V {
	if m == nil {
		m = map[sensors.KindID]V{}
	}
	m[k] = v
	return m
}

type checker struct {
	problems []sensors.Problem
	seen     map[sensors.Problem]bool
}

// once is add for a problem every sensor of a kind may raise: it is
// reported once per file, line and message.
func (c *checker) once(at pos, format string, a ...any) {
	p := sensors.Problem{File: at.file, Line: at.line, Msg: fmt.Sprintf(format, a...)}
	if c.seen[p] {
		return
	}
	if c.seen == nil {
		c.seen = map[sensors.Problem]bool{}
	}
	c.seen[p] = true
	c.problems = append(c.problems, p)
}

func (c *checker) add(at pos, format string, a ...any) {
	c.problems = append(c.problems, sensors.Problem{File: at.file, Line: at.line, Msg: fmt.Sprintf(format, a...)})
}

// layers are the blocks that apply to a sensor, least specific first.
func (s *Set) layers(sn *sensors.Sensor) []*block {
	var out []*block
	for _, b := range [...]*block{s.defaults, s.kinds[sn.Kind], s.siteKinds[siteKey{sn.Site, string(sn.Kind)}], s.sensors[siteKey{sn.Site, sn.ID}]} {
		if b != nil {
			out = append(out, b)
		}
	}
	return out
}

// touchesTiming reports whether a site kind or a sensor sets a threshold
// on-delay, off-delay or M-of-N.
func (s *Set) touchesTiming() bool {
	for _, m := range [...]map[siteKey]*block{s.siteKinds, s.sensors} {
		for _, b := range m {
			if b.forDur != nil || b.offDelay != nil || b.mofn != nil {
				return true
			}
		}
	}
	return false
}

func (s *Set) touchesPacks() bool {
	if s.defaults != nil || len(s.siteKinds) > 0 || len(s.sensors) > 0 {
		return true
	}
	return len(s.kinds) > 0
}

// tops are the positions of the most specific patch of each pack rule
// that decided a sensor's rule; nil where no layer touched it.
type tops struct {
	rate, trend, forecast, stuck, jump, stale *pos
}

// pack is a sensor's rule pack: base, then every layer in turn. The
// amounts of the layers written for all kinds, a kind or a site's kind
// are in the kind's own unit and are converted into the unit the sensor
// reports in; a sensor's own layer is in its unit.
func (s *Set) pack(sn *sensors.Sensor, base func(*sensors.Sensor) alerting.RulePack) (alerting.RulePack, tops) {
	p := base(sn)
	ls := s.layers(sn)
	var t tops
	if len(ls) == 0 {
		return p, t
	}
	scale := s.scales(sn, ls)
	p.Rate, t.rate = merge(p.Rate, ls, scale, func(b *block) *patch[alerting.RateConfig] { return b.rate }, nil)
	p.Trend, t.trend = merge(p.Trend, ls, scale, func(b *block) *patch[alerting.TrendConfig] { return b.trend }, nil)
	// A forecast turned on where the base has none (alerting.forecast:
	// false, or a kind without setpoints) starts from the kind's default.
	p.Forecast, t.forecast = merge(p.Forecast, ls, scale, func(b *block) *patch[alerting.ForecastConfig] { return b.forecast },
		alerting.DefaultForecast(sn.KindInfo()))
	p.Stuck, t.stuck = merge(p.Stuck, ls, scale, func(b *block) *patch[alerting.StuckConfig] { return b.stuck }, nil)
	p.Jump, t.jump = merge(p.Jump, ls, scale, func(b *block) *patch[alerting.JumpConfig] { return b.jump }, nil)
	p.Stale, t.stale = merge(p.Stale, ls, scale, func(b *block) *patch[alerting.StaleConfig] { return b.stale }, nil)
	return p, t
}

// scales is the factor for each of sn's layers that turns its amounts
// into sn's unit: 1 for the sensor's own layer and for a sensor in its
// kind's unit, 0 where the units have no fixed relation (a tank level
// in % of its span against the kind's metres).
func (s *Set) scales(sn *sensors.Sensor, ls []*block) []float64 {
	own := s.sensors[siteKey{sn.Site, sn.ID}]
	kindScale, _ := sn.KindInfo().AmountFromOwnUnit(1)
	out := make([]float64, len(ls))
	for i, b := range ls {
		out[i] = kindScale
		if b == own {
			out[i] = 1
		}
	}
	return out
}

func merge[T any](cur *T, ls []*block, scale []float64, get func(*block) *patch[T], start *T) (*T, *pos) {
	var top *pos
	for i, b := range ls {
		if p := get(b); p != nil {
			cur = p.on(cur, start, scale[i])
			top = &p.at
		}
	}
	return cur, top
}

// checkPack reports the rules a sensor's layers leave incomplete: a rule
// the built-in pack of the kind lacks needs its required fields written.
// The message names the kind, not the sensor, so that a kind-wide
// mistake is one problem, not one per sensor.
func (s *Set) checkPack(c *checker, sn *sensors.Sensor, base func(*sensors.Sensor) alerting.RulePack) {
	p, t := s.pack(sn, base)
	k := sn.KindInfo()
	need := func(at *pos, rule string, missing []string) {
		if at != nil && len(missing) > 0 {
			c.add(*at, "%s: %s not set; the rule is not in the built-in pack of kind %s, so give %s", rule,
				strings.Join(missing, " and "), k.ID, strings.Join(missing, ", "))
		}
	}
	if !s.checkAmounts(c, sn) {
		// The amounts left out would read as missing as well.
		return
	}
	if r := p.Rate; r != nil {
		need(t.rate, "rate", missing(r.Limit > 0, "limit", r.Window > 0, "window"))
	}
	if r := p.Trend; r != nil {
		need(t.trend, "trend", missing(r.Limit > 0, "limit", r.Window > 0, "window"))
	}
	if r := p.Forecast; r != nil {
		need(t.forecast, "forecast", missing(r.Window > 0, "window", r.Horizon > 0, "horizon", r.MinSlope > 0, "min_slope"))
	}
	if r := p.Stuck; r != nil {
		need(t.stuck, "stuck", missing(r.Window > 0, "window", r.MinSamples >= 2, "min_samples"))
	}
	if r := p.Jump; r != nil {
		need(t.jump, "jump", missing(r.Fraction > 0, "fraction"))
	}
	if p.Stale != nil && t.stale != nil && k.Interval <= 0 {
		c.add(*t.stale, "stale: kind %s has no reporting interval to measure silence by", k.ID)
	}
}

// checkAmounts reports an amount (a rate limit, a slope, a tolerance)
// written in the kind's own unit for a sensor whose unit has no fixed
// relation to it: a rate in m/min means nothing to a level in % of the
// tank's span, and a guess would page at the wrong rate.
// It reports whether there was none.
func (s *Set) checkAmounts(c *checker, sn *sensors.Sensor) bool {
	k := sn.KindInfo()
	if _, ok := k.AmountFromOwnUnit(1); ok {
		return true
	}
	good := true
	own := s.sensors[siteKey{sn.Site, sn.ID}]
	for _, b := range s.layers(sn) {
		if b == own {
			continue
		}
		for _, pa := range [...]struct {
			rule   string
			at     *pos
			amount bool
		}{
			{"rate", patchAt(b.rate), b.rate != nil && b.rate.amounts()},
			{"trend", patchAt(b.trend), b.trend != nil && b.trend.amounts()},
			{"forecast", patchAt(b.forecast), b.forecast != nil && b.forecast.amounts()},
			{"stuck", patchAt(b.stuck), b.stuck != nil && b.stuck.amounts()},
		} {
			if pa.amount {
				good = false
				c.once(*pa.at, "%s: a limit or tolerance here is in %s, kind %s's own unit, which has no fixed relation to %s, "+
					"the unit some of its sensors report in; set the %s rule's amounts on each such sensor",
					pa.rule, k.OwnUnit(), k.ID, k.Unit, pa.rule)
			}
		}
	}
	return good
}

// missing lists the names whose condition is false, from (ok, name)
// pairs.
func missing(pairs ...any) []string {
	var out []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if !pairs[i].(bool) {
			out = append(out, pairs[i+1].(string))
		}
	}
	return out
}

// exposure is the exposure limits with the kinds' changes applied, or
// nil when no kind changes them.
func (s *Set) exposure(c *checker, cur map[sensors.KindID]alerting.ExposureLimit) map[sensors.KindID]alerting.ExposureLimit {
	var out map[sensors.KindID]alerting.ExposureLimit
	for k, b := range s.kinds {
		if b.exposure == nil {
			continue
		}
		if out == nil {
			out = maps.Clone(cur)
			if out == nil {
				out = alerting.DefaultExposureLimits()
			}
		}
		var prev *alerting.ExposureLimit
		if l, ok := out[k]; ok {
			prev = &l
		}
		// Exposure limits stay in the kind's unit; the rule converts them.
		l := b.exposure.on(prev, nil, 1)
		if l == nil {
			delete(out, k)
			continue
		}
		if l.TWA == 0 && l.STEL == 0 {
			c.add(b.exposure.at, "exposure: kind %s has no default limits, so give twa or stel (or both)", k)
			continue
		}
		out[k] = *l
	}
	return out
}

// checkGroups compiles each group and composite rule on its own, in an
// engine over just its site, so that a problem is tied to the rule's
// line and the cost stays that of the site, not of the fleet.
func (s *Set) checkGroups(c *checker, reg *sensors.Registry) {
	subs := map[string]*sensors.Registry{}
	sub := func(at pos, site string) *sensors.Registry {
		if r, ok := subs[site]; ok {
			return r
		}
		st, ok := reg.Site(site)
		if !ok {
			subs[site] = nil
			return nil
		}
		var sns []sensors.Sensor
		for _, sn := range reg.Sensors() {
			if sn.Site == site {
				sns = append(sns, *sn)
			}
		}
		r, err := sensors.NewRegistry(reg.Catalog(), []sensors.Site{*st}, sns)
		if err != nil {
			// The registry was built from these very sensors, so this
			// would be a bug in the copy, not in the rule file.
			c.add(at, "site %s: %v", site, err)
		}
		subs[site] = r
		return r
	}
	none := func(*sensors.Sensor) alerting.RulePack { return alerting.RulePack{} }
	check := func(at pos, site string, o alerting.Options) {
		r := sub(at, site)
		if r == nil {
			return // unknown site, reported above
		}
		o.Pack, o.Exposure = none, map[sensors.KindID]alerting.ExposureLimit{}
		// Threshold rules need no on-delay here: they only give the
		// sensors subjects to hang the group or rule on.
		if _, err := alerting.NewEngine(r, nil, o); err != nil {
			c.add(at, "%s", strings.TrimPrefix(err.Error(), "alerting: "))
		}
	}
	seen := map[siteKey]pos{}
	for _, g := range s.groups {
		k := siteKey{g.g.Site, "group " + g.g.ID}
		if prev, dup := seen[k]; dup {
			c.add(g.at, "group %s/%s is already defined at %s", g.g.Site, g.g.ID, prev)
			continue
		}
		seen[k] = g.at
		check(g.at, g.g.Site, alerting.Options{Groups: []alerting.Group{g.g}})
	}
	for _, r := range s.composites {
		k := siteKey{r.c.Site, "composite " + r.c.ID}
		if prev, dup := seen[k]; dup {
			c.add(r.at, "composite rule %s/%s is already defined at %s", r.c.Site, r.c.ID, prev)
			continue
		}
		seen[k] = r.at
		check(r.at, r.c.Site, alerting.Options{Composite: []alerting.CompositeRule{r.c}})
	}
}
