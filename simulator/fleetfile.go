package simulator

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/sensors/yamlpos"
	"go.yaml.in/yaml/v3"
)

// fleetFile is a fleet section: the `fleet:` of a scenario, or the whole
// of a fleet file. Exactly one of SitesPerSector, Synthetic and Sites
// builds the sites; none means one demo site per sector.
type fleetFile struct {
	SitesPerSector int `yaml:"sites_per_sector"`
	Synthetic      *struct {
		Sites          int `yaml:"sites"`
		SensorsPerSite int `yaml:"sensors_per_site"`
	} `yaml:"synthetic"`
	Sites []siteGroup `yaml:"sites"`
	// Format is every gateway's payload format; Formats overrides it
	// per site ("gas-01") or gateway ("gas-01/gw2").
	Format  string            `yaml:"format"`
	Formats map[string]string `yaml:"formats"`
	// Intervals are reporting intervals per site or gateway;
	// KindIntervals gives the other gateways their sensors' kinds'.
	Intervals     map[string]time.Duration `yaml:"intervals"`
	KindIntervals bool                     `yaml:"kind_intervals"`
	// Models override fields of a kind's default signal model; they
	// are decoded onto it by parseFleet.
	Models map[string]yaml.Node `yaml:"models"`
}

// siteGroup is Count sites of one template, where and how named.
type siteGroup struct {
	Template string   `yaml:"template"`
	Count    int      `yaml:"count"`
	Prefix   string   `yaml:"prefix"`
	Name     string   `yaml:"name"`
	Region   string   `yaml:"region"`
	Lat      *float64 `yaml:"lat"`
	Lon      *float64 `yaml:"lon"`
	SpreadKm float64  `yaml:"spread_km"`
}

// LoadFleet reads a fleet file: the same keys as a scenario's `fleet:`
// section at its top level.
func LoadFleet(path string) (Fleet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Fleet{}, err
	}
	return ParseFleet(path, bytes.NewReader(data))
}

// ParseFleet reads a fleet file; name prefixes its error messages, which
// carry the line of each problem.
func ParseFleet(name string, r io.Reader) (Fleet, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return Fleet{}, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Fleet{}, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return Fleet{}, fmt.Errorf("%s: empty fleet file", name)
	}
	f, errs := parseFleet(name, doc.Content[0])
	if err := errors.Join(errs...); err != nil {
		return Fleet{}, err
	}
	return f, nil
}

// parseFleet builds the fleet a fleet section describes. Errors are
// yamlpos.Problems, "name:line: message"; the line is the key's or
// entry's.
func parseFleet(name string, n *yaml.Node) (Fleet, []error) {
	if n == nil {
		return DemoFleet(1), nil
	}
	p := &fleetParser{problems: problems{file: name}, n: n}
	if n.Kind != yaml.MappingNode {
		p.fail(n.Line, "fleet: want a mapping")
		return Fleet{}, p.errs
	}
	if err := checkFields(n, reflect.TypeOf(fleetFile{})); err != nil {
		p.atLine(err)
		return Fleet{}, p.errs
	}
	var raw fleetFile
	if err := n.Decode(&raw); err != nil {
		p.atLine(err)
		return Fleet{}, p.errs
	}
	f, ok := p.sites(&raw)
	if !ok {
		return Fleet{}, p.errs
	}
	p.formats(&f, raw.Format, raw.Formats)
	f.Intervals, f.KindIntervals = raw.Intervals, raw.KindIntervals
	if err := f.checkIntervals(); err != nil {
		p.fail(p.line("intervals"), "fleet: %v", strings.TrimPrefix(err.Error(), "simulator fleet: "))
	}
	p.models(&f, raw.Models)
	return f, p.errs
}

// fleetParser collects the problems of one fleet section, n, so that
// each step of parseFleet can report several and go on.
type fleetParser struct {
	problems
	n *yaml.Node
}

// problems collects the problems of one file, each at its line, so that
// a parse can report all of them and not only the first.
type problems struct {
	file string
	errs []error
}

func (p *problems) fail(line int, format string, args ...any) {
	p.errs = append(p.errs, yamlpos.Problem{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// atLine reports the problems of checkFields and yaml's Decode, which
// both say "line N: …" per problem, with N put in front.
func (p *fleetParser) atLine(err error) {
	for _, e := range flatten(err) {
		for _, pr := range yamlpos.DecodeProblems(p.file, e) {
			p.fail(cmp.Or(pr.Line, p.n.Line), "fleet: %s", pr.Msg)
		}
	}
}

// line is the line of key in the section, or the section's own when the
// key is absent.
func (p *fleetParser) line(key string) int {
	if k, _ := yamlpos.MapValue(p.n, key); k != nil {
		return k.Line
	}
	return p.n.Line
}

// sites builds the sites and sensors of the fleet from the one builder
// raw gives. It reports false when the fleet cannot be built at all.
func (p *fleetParser) sites(raw *fleetFile) (Fleet, bool) {
	builders := 0
	for _, set := range []bool{raw.SitesPerSector != 0, raw.Synthetic != nil, raw.Sites != nil} {
		if set {
			builders++
		}
	}
	switch {
	case builders > 1:
		p.fail(p.n.Line, "fleet: give one of sites_per_sector, synthetic and sites")
		return Fleet{}, false
	case raw.Synthetic != nil:
		sy := raw.Synthetic
		if sy.Sites <= 0 || sy.SensorsPerSite <= 0 {
			p.fail(p.line("synthetic"), "fleet: synthetic sites and sensors_per_site must be positive")
			return Fleet{}, false
		}
		if err := checkSize(sy.Sites, sy.Sites*min(sy.SensorsPerSite, MaxFleetSensors+1)); err != nil {
			p.fail(p.line("synthetic"), "fleet: synthetic: %v", err)
			return Fleet{}, false
		}
		return SyntheticFleet(sy.Sites, sy.SensorsPerSite), true
	case raw.Sites != nil:
		return p.siteGroups(raw.Sites)
	case raw.SitesPerSector < 0:
		// Reported, but the formats and models are still checked.
		p.fail(p.line("sites_per_sector"), "fleet: sites_per_sector must be positive")
		return Fleet{}, true
	case raw.SitesPerSector > MaxFleetSites/len(templates()):
		p.fail(p.line("sites_per_sector"), "fleet: sites_per_sector %d: %v", raw.SitesPerSector, checkSize(raw.SitesPerSector*len(templates()), 0))
		return Fleet{}, false
	default:
		return DemoFleet(raw.SitesPerSector), true
	}
}

// siteGroups builds the fleet of a `sites:` list, after checking every
// group and the size of them all.
func (p *fleetParser) siteGroups(raw []siteGroup) (Fleet, bool) {
	_, v := yamlpos.MapValue(p.n, "sites")
	var groups []SiteGroup
	for i, g := range raw {
		gl := v.Line
		if i < len(v.Content) {
			gl = v.Content[i].Line
		}
		sg, err := g.resolve()
		if err != nil {
			p.fail(gl, "fleet: sites[%d]: %v", i, err)
			continue
		}
		groups = append(groups, sg)
	}
	if len(groups) == 0 && len(p.errs) == 0 {
		p.fail(p.line("sites"), "fleet: sites: no site groups")
	}
	if len(p.errs) > 0 {
		return Fleet{}, false
	}
	sites, sensorCount := 0, 0
	for _, g := range groups {
		t, _ := findTemplate(g.Template)
		sites += min(g.Count, MaxFleetSites+1)
		sensorCount += min(g.Count, MaxFleetSites+1) * len(t.points)
	}
	if err := checkSize(sites, sensorCount); err != nil {
		p.fail(p.line("sites"), "fleet: sites: %v", err)
		return Fleet{}, false
	}
	f, err := GroupFleet(groups)
	if err != nil {
		p.fail(p.line("sites"), "fleet: %v", strings.TrimPrefix(err.Error(), "simulator fleet: "))
		return Fleet{}, false
	}
	return f, true
}

// formats sets the fleet's payload format and its per-site or
// per-gateway overrides.
func (p *fleetParser) formats(f *Fleet, format string, formats map[string]string) {
	if ff, err := ParseFormat(format); err != nil {
		p.fail(p.line("format"), "fleet: format: %v", err)
	} else {
		f.Format = ff
	}
	for _, key := range slices.Sorted(maps.Keys(formats)) {
		ff, err := ParseFormat(formats[key])
		if err != nil {
			p.fail(p.line("formats"), "fleet: formats: %s: %v", key, err)
			continue
		}
		if f.Formats == nil {
			f.Formats = map[string]Format{}
		}
		f.Formats[key] = ff
	}
	if err := f.checkFormats(); err != nil {
		p.fail(p.line("formats"), "fleet: %v", strings.TrimPrefix(err.Error(), "simulator fleet: "))
	}
}

// models decodes each kind's overrides onto its default signal model.
func (p *fleetParser) models(f *Fleet, raw map[string]yaml.Node) {
	cat := sensors.DefaultCatalog()
	_, models := yamlpos.MapValue(p.n, "models")
	for _, id := range slices.Sorted(maps.Keys(raw)) {
		ml := p.line("models")
		if k, _ := yamlpos.MapValue(models, id); k != nil {
			ml = k.Line
		}
		k, ok := cat.Kind(sensors.KindID(id))
		if !ok {
			p.fail(ml, "fleet: models: unknown kind %q", id)
			continue
		}
		node := raw[id]
		m, ok := p.model(ml, id, &node, KindModel(k))
		if !ok {
			continue
		}
		if f.Models == nil {
			f.Models = map[sensors.KindID]Model{}
		}
		f.Models[k.ID] = m
	}
}

// model decodes the overrides in node onto m, a kind's default model,
// and checks the result; ml is the line of the kind's key.
func (p *fleetParser) model(ml int, id string, node *yaml.Node, m Model) (Model, bool) {
	if err := checkFields(node, reflect.TypeOf(m)); err != nil {
		p.atLine(err)
		return m, false
	}
	if err := node.Decode(&m); err != nil {
		p.atLine(err)
		return m, false
	}
	if k, _ := yamlpos.MapValue(node, "typical"); k != nil {
		m.HasTypical = true
	}
	if err := m.Validate(); err != nil {
		p.fail(ml, "fleet: models: %s: %v", id, err)
		return m, false
	}
	return m, true
}

// Bounds of a fleet built from a file or flags: a national platform's
// size, beyond which a typo (a count with three zeros too many) would
// only exhaust memory.
const (
	MaxFleetSites   = 100_000
	MaxFleetSensors = 2_000_000
)

func checkSize(sites, sensorCount int) error {
	if sites > MaxFleetSites || sensorCount > MaxFleetSensors {
		return fmt.Errorf("at most %d sites and %d sensors", MaxFleetSites, MaxFleetSensors)
	}
	return nil
}

// flatten splits an errors.Join into its errors.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// SiteGroup is Count sites built from one site template.
type SiteGroup struct {
	// Template is a template id (TemplateIDs) or a sector, which means
	// that sector's template.
	Template string
	Count    int
	// Prefix is the site id prefix ("nb-hz" gives nb-hz-01, nb-hz-02…);
	// empty means the template's. Sites sharing a prefix are numbered
	// on across groups.
	Prefix string
	// Name is the site name with one %d (or %02d…) for the site number;
	// empty means the template's, followed by the region.
	Name string
	// Region, and Lat/Lon when HasCoordinates, place the first site;
	// the others are spread over a disc of SpreadKm radius around it.
	Region         string
	Lat, Lon       float64
	HasCoordinates bool
	SpreadKm       float64
}

func (g siteGroup) resolve() (SiteGroup, error) {
	sg := SiteGroup{Template: g.Template, Count: g.Count, Prefix: g.Prefix, Name: g.Name, Region: g.Region, SpreadKm: g.SpreadKm}
	switch {
	case g.Template == "":
		return sg, fmt.Errorf("template is required (one of %s, or a sector)", strings.Join(TemplateIDs(), ", "))
	case (g.Lat == nil) != (g.Lon == nil):
		return sg, errors.New("give lat and lon together")
	case g.Lat != nil:
		sg.Lat, sg.Lon, sg.HasCoordinates = *g.Lat, *g.Lon, true
	}
	return sg, sg.validate()
}

func (g SiteGroup) validate() error {
	if _, ok := findTemplate(g.Template); !ok {
		return fmt.Errorf("unknown template %q (want one of %s, or a sector: %s)", g.Template, strings.Join(TemplateIDs(), ", "), sectorList())
	}
	switch {
	case g.Count <= 0:
		return fmt.Errorf("count %d must be positive", g.Count)
	case g.Prefix != "" && strings.ContainsAny(g.Prefix, "/+# "):
		return fmt.Errorf("prefix %q must not contain '/', '+', '#' or spaces (it becomes part of MQTT topics)", g.Prefix)
	case g.HasCoordinates && (math.Abs(g.Lat) > 90 || math.Abs(g.Lon) > 180):
		return fmt.Errorf("lat %g, lon %g: want -90..90 and -180..180", g.Lat, g.Lon)
	case g.SpreadKm < 0:
		return fmt.Errorf("spread_km %g must not be negative", g.SpreadKm)
	case g.SpreadKm > 0 && !g.HasCoordinates:
		return errors.New("spread_km needs lat and lon")
	}
	if g.Name != "" {
		if strings.Count(g.Name, "%") != 1 || strings.Contains(fmt.Sprintf(g.Name, 1), "%!") {
			return fmt.Errorf("name %q: want one %%d (or %%02d) for the site number", g.Name)
		}
	}
	return nil
}

func sectorList() string {
	var s []string
	for _, sec := range sensors.Sectors() {
		s = append(s, string(sec))
	}
	return strings.Join(s, ", ")
}

// GroupFleet builds a fleet of site groups, in order, each site
// instrumented as its template says (the demo fleet's sensor ids).
func GroupFleet(groups []SiteGroup) (Fleet, error) {
	b := newBuilder()
	b.f.Places = map[string]Place{}
	for i, g := range groups {
		if err := g.validate(); err != nil {
			return Fleet{}, fmt.Errorf("simulator fleet: group %d: %w", i+1, err)
		}
		t, _ := findTemplate(g.Template)
		if g.Prefix != "" {
			t.prefix = g.Prefix
		}
		switch {
		case g.Name != "":
			t.name = g.Name
		case g.Region != "":
			t.name += ", " + strings.ReplaceAll(g.Region, "%", "%%")
		}
		for j := range g.Count {
			site := b.site(t)
			p := Place{Region: g.Region}
			if g.HasCoordinates {
				p.Lat, p.Lon = spread(g.Lat, g.Lon, g.SpreadKm, j, g.Count)
				p.HasCoordinates = true
			}
			b.f.Places[site] = p
			b.templateSite(site, t, len(t.points))
		}
	}
	return b.f, nil
}

// spread places site j of n on a sunflower spiral over a disc of radius
// km around lat/lon: evenly covered, the same every time.
func spread(lat, lon, km float64, j, n int) (float64, float64) {
	if km == 0 || n == 1 {
		return lat, lon
	}
	r := km * math.Sqrt(float64(j)/float64(n-1))
	theta := float64(j) * math.Pi * (3 - math.Sqrt(5)) // the golden angle
	const kmPerDegree = 111.32
	dLat := r * math.Cos(theta) / kmPerDegree
	dLon := r * math.Sin(theta) / (kmPerDegree * math.Max(math.Cos(lat*math.Pi/180), 0.01))
	round := func(v float64) float64 { return math.Round(v*1e5) / 1e5 }
	return round(math.Max(-90, math.Min(90, lat+dLat))), round(math.Mod(lon+dLon+540, 360) - 180)
}
