package sensors

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/riskmon/riskmon/sensors/yamlpos"
)

// Problem is one thing wrong with a registry file: yamlpos.Problem, the
// one problem type of every riskmon file loader.
type Problem = yamlpos.Problem

// LoadError lists every problem found in a registry file. The loaders
// collect them all rather than stop at the first, so that a fleet file is
// fixed in one pass.
type LoadError = yamlpos.LoadError

// LoadFile loads a registry from a .yaml, .yml or .csv file, checked
// against cat. Problems in the file come back as a *LoadError; failing to
// open or read it is returned as is.
func LoadFile(cat *Catalog, path string) (*Registry, error) {
	var load func(*Catalog, string, io.Reader) (*Registry, error)
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".yaml", ".yml":
		load = LoadYAML
	case ".csv":
		load = LoadCSV
	default:
		return nil, fmt.Errorf("%s: unknown registry format %q (want .yaml, .yml or .csv)", path, ext)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return load(cat, path, f)
}

// loader gathers a registry's sites and sensors and every problem with
// them, by line, before handing them to NewRegistry.
type loader struct {
	cat      *Catalog
	file     string
	problems []Problem
	sites    []siteEntry
	siteAt   map[string]int // site id -> index in sites
	sensors  []Sensor
	sensorAt map[[2]string]int // site id, sensor id -> line
	spbAt    map[spbAddr]int   // Sparkplug address -> line
}

// siteEntry is a site with the lines its fields were first given at, for
// problems that point back at them.
type siteEntry struct {
	Site
	line, nameLine int
}

func newLoader(cat *Catalog, file string) *loader {
	return &loader{
		cat:      cat,
		file:     file,
		siteAt:   map[string]int{},
		sensorAt: map[[2]string]int{},
	}
}

func (l *loader) addf(line int, format string, args ...any) {
	l.problems = append(l.problems, Problem{File: l.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// finish builds the registry, or returns every problem sorted by line.
func (l *loader) finish() (*Registry, error) {
	if len(l.problems) == 0 {
		sites := make([]Site, len(l.sites))
		for i, s := range l.sites {
			sites[i] = s.Site
		}
		reg, err := NewRegistry(l.cat, sites, l.sensors)
		if err == nil {
			return reg, nil
		}
		// The loader's checks cover NewRegistry's with lines; should the
		// two drift apart, callers still get the one error type.
		l.addf(0, "%v", err)
	}
	slices.SortStableFunc(l.problems, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	return nil, &LoadError{Problems: l.problems}
}

// addSite registers a site and reports whether it is new.
func (l *loader) addSite(line int, s Site) bool {
	if s.ID == "" {
		return false
	}
	if i, dup := l.siteAt[s.ID]; dup {
		l.addf(line, "duplicate site %q (first at line %d)", s.ID, l.sites[i].line)
		return false
	}
	l.siteAt[s.ID] = len(l.sites)
	l.sites = append(l.sites, siteEntry{Site: s, line: line, nameLine: line})
	return true
}

func (l *loader) addSensor(line int, s Sensor) {
	if s.ID == "" || s.Site == "" {
		return
	}
	key := [2]string{s.Site, s.ID}
	if first, dup := l.sensorAt[key]; dup {
		l.addf(line, "duplicate sensor %q in site %q (first at line %d)", s.ID, s.Site, first)
		return
	}
	if s.Sparkplug != "" {
		if dev, metric, ok := SplitSparkplug(s.Sparkplug); ok {
			a := spbAddr{s.Site, dev, metric}
			if first, dup := l.spbAt[a]; dup {
				l.addf(line, "sensor %q has the Sparkplug address %q of the sensor at line %d: two instruments would fold into one series", s.ID, s.Sparkplug, first)
				return
			}
			if l.spbAt == nil {
				l.spbAt = map[spbAddr]int{}
			}
			l.spbAt[a] = line
		}
	}
	l.sensorAt[key] = line
	l.sensors = append(l.sensors, s)
}

// sparkplug checks a sensor's Sparkplug address.
func (l *loader) sparkplug(line int, addr string) {
	if _, _, ok := SplitSparkplug(addr); !ok {
		l.addf(line, "bad Sparkplug address %q: want {device_id}/{metric}, or /{metric} for a metric of the edge node itself", addr)
		return
	}
	l.text(line, "Sparkplug address", addr)
}

// ident checks a required identifier. Site and gateway ids are MQTT topic
// levels (docs/protocol.md) and sensor ids end up after a "/" in series
// keys, so all three keep to the protocol's characters.
func (l *loader) ident(line int, what, id string) {
	if id == "" {
		l.addf(line, "missing %s", what)
		return
	}
	if !ValidID(id) {
		l.addf(line, "bad %s %q: use letters, digits, '-', '_' and '.'", what, id)
	}
}

// ValidID reports whether id is a usable site, gateway or sensor id: a
// non-empty run of letters, digits, '-', '_' and '.'. Rule files check
// their ids with it too, so an id the registry takes is never refused
// there.
func ValidID(id string) bool {
	if id == "" {
		return false
	}
	for _, r := range id {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_' && r != '.' {
			return false
		}
	}
	return true
}

// text checks free text. Names and locations are shown one a line on
// consoles and in alerts, so line breaks and other control characters,
// which a spreadsheet cell can hold, are refused.
func (l *loader) text(line int, what, s string) {
	if strings.ContainsFunc(s, unicode.IsControl) {
		l.addf(line, "%s %q holds a line break or other control character", what, s)
	}
}

func (l *loader) sector(line int, s string) Sector {
	if s == "" {
		l.addf(line, "missing sector")
		return ""
	}
	sec, err := ParseSector(s)
	if err != nil {
		l.addf(line, "%v", err)
	}
	return sec
}

// kind looks a kind up, or reports it missing or unknown and returns nil.
func (l *loader) kind(line int, id string) *Kind {
	if id == "" {
		l.addf(line, "missing kind")
		return nil
	}
	k, ok := l.cat.Kind(KindID(id))
	if !ok {
		l.addf(line, "unknown kind %q (%s)", id, kindHint(l.cat, id))
	}
	return k
}

// kindHint suggests the closest kind id to a misspelt one, or lists them
// all when none is close.
func kindHint(cat *Catalog, id string) string {
	best, bestDist := "", len(id)/3+2
	var all []string
	for _, k := range cat.Kinds() {
		all = append(all, string(k.ID))
		// The distance costs the product of the lengths; an id twice as
		// long as a kind's is no misspelling of it anyway.
		if len(id) > 2*len(k.ID) {
			continue
		}
		if d := editDistance(strings.ToLower(id), strings.ToLower(string(k.ID))); d < bestDist {
			best, bestDist = string(k.ID), d
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return "known kinds: " + strings.Join(all, ", ")
}

// editDistance is the Levenshtein distance between a and b in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// unit checks a sensor's unit against its kind and returns the kind in
// that unit, whose range its setpoints are checked against (k itself
// when the unit is empty, the kind's own, or wrong).
func (l *loader) unit(line int, k *Kind, unit string) *Kind {
	if k == nil || unit == "" {
		return k
	}
	ku, ok := k.InUnit(unit)
	if !ok {
		l.addf(line, "unit %q is not one kind %s reports in (%s)", unit, k.ID, strings.Join(k.UnitNames(), ", "))
		return k
	}
	return ku
}

func (l *loader) direction(line int, s string) (Direction, bool) {
	d, err := ParseDirection(s)
	if err != nil {
		l.addf(line, "%v", err)
		return d, false
	}
	return d, true
}

// number parses a finite number. NaN would pass every comparison a
// setpoint makes and never trip.
func (l *loader) number(line int, what, s string) (float64, bool) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		l.addf(line, "%s %q is not a finite number", what, s)
		return 0, false
	}
	return v, true
}

// inRange reports a setpoint value the instrument cannot measure: such a
// setpoint would never trip.
func (l *loader) inRange(line int, k *Kind, what string, v float64) {
	if k != nil && !k.InRange(v) {
		l.addf(line, "%s %g is outside kind %s's range %.6g to %.6g %s", what, v, k.ID, k.Min, k.Max, k.Unit)
	}
}

// setpoints checks a sensor's setpoints against each other; lines[i] is
// where sps[i] was given.
func (l *loader) setpoints(sps []Setpoint, lines []int) {
	// where names another setpoint's line when it is not this one's, as
	// both levels of a CSV row share one.
	where := func(i, j int, label string) string {
		if lines[i] == lines[j] {
			return ""
		}
		return fmt.Sprintf(" (%sline %d)", label, lines[j])
	}
	type slot struct {
		level Level
		dir   Direction
	}
	// Comparing against the first setpoint of each slot only keeps this
	// linear: there are at most eight slots, however long the list.
	first := map[slot]int{}
	var firsts []int
	for i, sp := range sps {
		// A restore value past the setpoint would clear the alarm the
		// moment it trips. Zero asks for the kind's deadband.
		if sp.Clear != 0 && sp.Trips(sp.Clear) && sp.Clear != sp.Value {
			l.addf(lines[i], "clear %g is %s value %g: the alarm would clear as soon as it trips", sp.Clear, sp.Direction, sp.Value)
		}
		if j, dup := first[slot{sp.Level, sp.Direction}]; dup {
			l.addf(lines[i], "a second level %s %s setpoint%s", sp.Level, sp.Direction, where(i, j, "first at "))
			continue
		}
		for _, j := range firsts {
			o := sps[j]
			if o.Direction != sp.Direction {
				continue
			}
			// A more severe level must not trip before a less severe one.
			sev, les := sp, o
			if o.Level.MoreSevere(sp.Level) {
				sev, les = o, sp
			}
			if sev.Value != les.Value && sev.Trips(les.Value) {
				l.addf(lines[i], "level %s at %g would trip before level %s at %g%s",
					sev.Level, sev.Value, les.Level, les.Value, where(i, j, ""))
			}
		}
		first[slot{sp.Level, sp.Direction}] = i
		firsts = append(firsts, i)
	}
}
