// Package rulefile reads rule files: YAML that changes the alerting
// engine's rules per sensor kind, per site and per sensor, and adds
// exposure limits, redundancy groups and composite expressions. The
// configuration names the files (alerting.rules); Set.Apply turns them,
// checked against the registry, into alerting.Options.
//
//	defaults:                  # every sensor
//	  for: 10s                 # threshold on-delay
//	  off_delay: 30s           # threshold off-delay
//	  m_of_n: {m: 2, n: 3}     # threshold M-of-N confirmation, or off
//	  stale: {factor: 4}
//	kinds:
//	  line_pressure:
//	    for: 0s
//	    rate: {direction: below, limit: 0.05, per: 1m, window: 1m, level: yellow}
//	    stuck: off
//	  co:
//	    exposure: {twa: 20, stel: 30, basis: PC-TWA/PC-STEL}
//	sites:
//	  mine-3:
//	    kinds:
//	      ch4: {forecast: {horizon: 20m}}
//	    sensors:
//	      CH4-101: {stale: {factor: 2, level: yellow}}
//	    groups:
//	      - {id: face-1, sensors: [CH4-101, CH4-102, CH4-103], tolerance: 0.5, vote: 2}
//	    composite:
//	      - {id: gas_no_air, expr: "CH4_101 >= 1.0 && WS_102 < 0.25", level: orange, for: 30s}
//
// Early-warning and sensor-health rules (rate, trend, forecast, stuck,
// jump, stale) take their fields from the layer below and change only
// those written, or are turned off with "off"; the layers are, most
// specific first, sensor > site and kind > kind > defaults > the
// built-in pack of the kind. Threshold on-delays, off-delays and M-of-N
// are set for every sensor (defaults) or per kind; exposure limits per
// kind. Every
// key is checked: unknown keys, bad values and unknown sites, sensors and
// kinds are problems with their file and line, all reported at once.
package rulefile

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// pos is where something was written.
type pos struct {
	file string
	line int
}

func (p pos) String() string { return fmt.Sprintf("%s:%d", p.file, p.line) }

// block is one layer's rules: the defaults, a kind, a kind at a site, or
// a sensor. A nil field leaves the layer below as it is.
type block struct {
	at       pos
	forDur   *time.Duration
	offDelay *time.Duration
	mofn     *alerting.MOfN

	rate     *patch[alerting.RateConfig]
	trend    *patch[alerting.TrendConfig]
	forecast *patch[alerting.ForecastConfig]
	stuck    *patch[alerting.StuckConfig]
	jump     *patch[alerting.JumpConfig]
	stale    *patch[alerting.StaleConfig]
	exposure *patch[alerting.ExposureLimit]
}

// siteKey names a kind or a sensor at a site.
type siteKey struct{ site, id string }

type groupItem struct {
	at pos
	g  alerting.Group
}

type compositeItem struct {
	at pos
	c  alerting.CompositeRule
}

// Set is the rules of one or more rule files. Each kind, site kind and
// sensor may be written in one file only, so that no rule depends on the
// order the files are listed in.
type Set struct {
	files      []string
	defaults   *block
	kinds      map[sensors.KindID]*block
	siteKinds  map[siteKey]*block
	sensors    map[siteKey]*block
	sites      map[string]pos // where each site was first named
	groups     []groupItem
	composites []compositeItem
	// guidance is the response text per rule id; guidanceUnknown the ids
	// that name no fixed or kind rule, checked against the composite
	// rules once every file is read.
	guidance        map[string]guidanceItem
	guidanceUnknown []string
	problems        []sensors.Problem
}

func newSet() *Set {
	return &Set{kinds: map[sensors.KindID]*block{}, siteKinds: map[siteKey]*block{}, sensors: map[siteKey]*block{}, sites: map[string]pos{}, guidance: map[string]guidanceItem{}}
}

// Files are the files the set was read from, in order.
func (s *Set) Files() []string { return slices.Clone(s.files) }

// Load reads one rule file, checked against cat; name is the file name
// problems are reported under. Problems come back as a
// *sensors.LoadError.
func Load(cat *sensors.Catalog, name string, data []byte) (*Set, error) {
	s := newSet()
	s.read(cat, name, data)
	return s.result()
}

// LoadFiles reads the rule files at paths into one set, reporting the
// problems of all of them at once.
func LoadFiles(cat *sensors.Catalog, paths []string) (*Set, error) {
	s := newSet()
	var errs []error
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule file: %w", err))
			continue
		}
		s.read(cat, p, data)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s.result()
}

// ApplyFiles loads the rule files at paths and applies them to opts
// against reg. It reports every problem at once: those of reading the
// files, and those of checking what did read against the registry (a
// block with a bad value is left out of that check, so nothing is
// reported twice). On any problem opts is left unchanged and the error
// is a *sensors.LoadError, or, when a file cannot be read, that error.
// The set comes back for what opts does not hold: the rules' response
// texts (Set.Guidance).
func ApplyFiles(reg *sensors.Registry, paths []string, opts *alerting.Options) (*Set, error) {
	s := newSet()
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("rule file: %w", err)
		}
		s.read(reg.Catalog(), p, data)
	}
	if err := s.apply(reg, opts); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Set) result() (*Set, error) {
	c := checker{problems: slices.Clone(s.problems)}
	s.checkGuidance(&c)
	if len(c.problems) > 0 {
		return nil, &sensors.LoadError{Problems: sortProblems(c.problems)}
	}
	return s, nil
}

func sortProblems(ps []sensors.Problem) []sensors.Problem {
	ps = slices.Clone(ps)
	slices.SortStableFunc(ps, func(a, b sensors.Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Msg, b.Msg))
	})
	return slices.Compact(ps)
}

func (s *Set) read(cat *sensors.Catalog, name string, data []byte) {
	s.files = append(s.files, name)
	l := &loader{cat: cat, file: name, set: s}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		// An empty rule file changes nothing; a file of comments is a
		// natural way to keep a site's place.
		return
	case err != nil:
		l.yamlError(err)
		return
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		l.addf(next.Line, "a second YAML document: a rule file holds one")
	case !errors.Is(err, io.EOF):
		l.yamlError(err)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return
	}
	l.root(doc.Content[0])
}

// Layer keys. Threshold keys exist only where the engine can set them.
var (
	packKeys     = []string{"rate", "trend", "forecast", "stuck", "jump", "stale"}
	defaultsKeys = append([]string{"for", "off_delay", "m_of_n"}, packKeys...)
	kindKeys     = append(slices.Clone(defaultsKeys), "exposure")
	siteKeys     = []string{"kinds", "sensors", "groups", "composite"}
)

func (l *loader) root(root *yaml.Node) {
	es, ok := l.mapping(root, "rule file", []string{"defaults", "kinds", "sites", "guidance"})
	if !ok {
		return
	}
	for _, e := range es {
		switch e.key {
		case "defaults":
			if b := l.block(e.v, "defaults", defaultsKeys); b != nil {
				if prev := l.set.defaults; prev != nil {
					l.addf(e.k.Line, "defaults are already set at %s", prev.at)
				} else {
					l.set.defaults = b
				}
			}
		case "kinds":
			l.kinds(e.v)
		case "sites":
			l.sites(e.v)
		case "guidance":
			l.guidance(e.v)
		}
	}
}

func (l *loader) kinds(n *yaml.Node) {
	if isNull(n) {
		return
	}
	es, ok := l.mapping(n, "kinds", nil)
	if !ok {
		return
	}
	for _, e := range es {
		if !l.kindID(e.k) {
			continue
		}
		b := l.block(e.v, "kind "+e.key, kindKeys)
		if b == nil {
			continue
		}
		id := sensors.KindID(e.key)
		if prev, dup := l.set.kinds[id]; dup {
			l.addf(e.k.Line, "kind %s is already set at %s", e.key, prev.at)
			continue
		}
		l.set.kinds[id] = b
	}
}

func (l *loader) kindID(k *yaml.Node) bool {
	if _, ok := l.cat.Kind(sensors.KindID(k.Value)); !ok {
		l.addf(k.Line, "unknown sensor kind %q (riskmon kinds lists them)", k.Value)
		return false
	}
	return true
}

func (l *loader) sites(n *yaml.Node) {
	if isNull(n) {
		return
	}
	es, ok := l.mapping(n, "sites", nil)
	if !ok {
		return
	}
	for _, e := range es {
		site, ok := l.ident(e.k, "site id")
		if !ok {
			continue
		}
		if _, seen := l.set.sites[site]; !seen {
			l.set.sites[site] = l.pos(e.k.Line)
		}
		if isNull(e.v) {
			continue
		}
		fs, ok := l.mapping(e.v, "site "+site, siteKeys)
		if !ok {
			continue
		}
		for _, f := range fs {
			switch f.key {
			case "kinds":
				l.siteKinds(site, f.v)
			case "sensors":
				l.siteSensors(site, f.v)
			case "groups":
				for _, g := range l.list(f.v, "groups") {
					l.group(site, g)
				}
			case "composite":
				for _, c := range l.list(f.v, "composite") {
					l.composite(site, c)
				}
			}
		}
	}
}

func (l *loader) siteKinds(site string, n *yaml.Node) {
	if isNull(n) {
		return
	}
	es, ok := l.mapping(n, "site "+site+" kinds", nil)
	if !ok {
		return
	}
	for _, e := range es {
		if !l.kindID(e.k) {
			continue
		}
		b := l.block(e.v, "site "+site+" kind "+e.key, defaultsKeys)
		if b == nil {
			continue
		}
		k := siteKey{site, e.key}
		if prev, dup := l.set.siteKinds[k]; dup {
			l.addf(e.k.Line, "kind %s of site %s is already set at %s", e.key, site, prev.at)
			continue
		}
		l.set.siteKinds[k] = b
	}
}

func (l *loader) siteSensors(site string, n *yaml.Node) {
	if isNull(n) {
		return
	}
	es, ok := l.mapping(n, "site "+site+" sensors", nil)
	if !ok {
		return
	}
	for _, e := range es {
		id, ok := l.ident(e.k, "sensor id")
		if !ok {
			continue
		}
		b := l.block(e.v, "sensor "+site+"/"+id, defaultsKeys)
		if b == nil {
			continue
		}
		k := siteKey{site, id}
		if prev, dup := l.set.sensors[k]; dup {
			l.addf(e.k.Line, "sensor %s/%s is already set at %s", site, id, prev.at)
			continue
		}
		l.set.sensors[k] = b
	}
}

// block reads one layer.
func (l *loader) block(n *yaml.Node, what string, allowed []string) *block {
	b := &block{at: l.pos(n.Line)}
	before := len(l.set.problems)
	if isNull(n) {
		return b
	}
	es, ok := l.mapping(n, what, allowed)
	if !ok {
		return nil
	}
	// Every check that fails records a problem, so the count of problems
	// alone says whether the block is good.
	for _, e := range es {
		w := what + ": " + e.key
		switch e.key {
		case "for":
			if d, ok := l.duration(e.v, w, true); ok {
				b.forDur = &d
			}
		case "off_delay":
			if d, ok := l.duration(e.v, w, true); ok {
				b.offDelay = &d
			}
		case "m_of_n":
			if m, ok := l.mofn(e.v, w); ok {
				b.mofn = &m
			}
		case "rate":
			b.rate = readPatch(l, e.v, w, rateFields)
		case "trend":
			b.trend = readPatch(l, e.v, w, trendFields)
		case "forecast":
			b.forecast = readPatch(l, e.v, w, forecastFields)
		case "stuck":
			b.stuck = readPatch(l, e.v, w, stuckFields)
		case "jump":
			b.jump = readPatch(l, e.v, w, jumpFields)
		case "stale":
			b.stale = readPatch(l, e.v, w, staleFields)
		case "exposure":
			b.exposure = readPatch(l, e.v, w, exposureFields)
		}
	}
	if len(l.set.problems) > before {
		return nil
	}
	return b
}

func (l *loader) mofn(n *yaml.Node, what string) (alerting.MOfN, bool) {
	if isOff(n) {
		return alerting.MOfN{}, true
	}
	es, ok := l.mapping(n, what, []string{"m", "n"})
	if !ok {
		return alerting.MOfN{}, false
	}
	var m alerting.MOfN
	var gotM, gotN bool
	for _, e := range es {
		switch e.key {
		case "m":
			m.M, gotM = l.integer(e.v, what+".m", 1, 32)
		case "n":
			m.N, gotN = l.integer(e.v, what+".n", 1, 32)
		}
	}
	switch {
	case !gotM || !gotN:
		if len(es) < 2 {
			l.addf(n.Line, "%s: give both m and n (m of the last n readings), or off", what)
		}
		return m, false
	case m.M > m.N:
		l.addf(n.Line, "%s: m %d is more than n %d", what, m.M, m.N)
		return m, false
	}
	return m, true
}

func (l *loader) group(site string, n *yaml.Node) {
	before := len(l.set.problems)
	es, ok := l.mapping(n, "group", []string{"id", "sensors", "tolerance", "vote", "max_age"})
	if !ok {
		return
	}
	g := alerting.Group{Site: site}
	// Every check that fails records a problem, so the count of problems
	// alone says whether the group is good.
	for _, e := range es {
		switch e.key {
		case "id":
			g.ID, _ = l.ident(e.v, "group id")
		case "sensors":
			for _, m := range l.list(e.v, "group sensors") {
				id, _ := l.ident(m, "group sensor")
				g.Sensors = append(g.Sensors, id)
			}
		case "tolerance":
			g.Tolerance, _ = l.number(e.v, "group tolerance", false)
		case "vote":
			g.Vote, _ = l.integer(e.v, "group vote", 0, 1<<16)
		case "max_age":
			g.MaxAge, _ = l.duration(e.v, "group max_age", false)
		}
	}
	switch {
	case len(l.set.problems) > before:
		return
	case g.ID == "":
		l.addf(n.Line, "group: missing id")
		return
	}
	l.set.groups = append(l.set.groups, groupItem{at: l.pos(n.Line), g: g})
}

func (l *loader) composite(site string, n *yaml.Node) {
	before := len(l.set.problems)
	es, ok := l.mapping(n, "composite rule", []string{"id", "expr", "level", "for", "off_delay", "max_age"})
	if !ok {
		return
	}
	c := alerting.CompositeRule{Site: site}
	exprLine := n.Line
	// Every check that fails records a problem, so the count of problems
	// alone says whether the rule is good.
	for _, e := range es {
		switch e.key {
		case "id":
			c.ID, _ = l.ident(e.v, "composite rule id")
		case "expr":
			c.Expr, _ = l.scalar(e.v, "composite rule expr")
			exprLine = e.v.Line
		case "level":
			c.Level, _ = l.level(e.v, "composite rule level")
		case "for":
			c.For, _ = l.duration(e.v, "composite rule for", true)
		case "off_delay":
			c.OffDelay, _ = l.duration(e.v, "composite rule off_delay", true)
		case "max_age":
			c.MaxAge, _ = l.duration(e.v, "composite rule max_age", false)
		}
	}
	switch {
	case len(l.set.problems) > before:
		return
	case c.ID == "":
		l.addf(n.Line, "composite rule: missing id")
		return
	case c.Expr == "":
		l.addf(n.Line, "composite rule %s: missing expr", c.ID)
		return
	}
	l.set.composites = append(l.set.composites, compositeItem{at: l.pos(exprLine), c: c})
}
