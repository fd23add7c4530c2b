package simulator

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/sensors/yamlpos"
	"go.yaml.in/yaml/v3"
)

// Scenario is a rehearsal: a fleet, a timeline of incidents and what the
// alerting must achieve. Scenario files are YAML; see docs/simulator.md.
type Scenario struct {
	Name        string
	Description string
	// Seed fixes every noise stream, so a scenario replays exactly.
	Seed     int64
	Interval time.Duration
	// Duration is the device time the scenario covers.
	Duration  time.Duration
	Fleet     Fleet
	Incidents []ScenarioIncident
	Targets   []Target
}

// ScenarioIncident is one entry of a scenario's timeline.
type ScenarioIncident struct {
	ID       string
	Kind     string // the type name of the file, e.g. "gas_leak"
	Incident Incident
	Line     int
}

// Target is a detection target: the incident must be detected, reaching
// at least the severity MaxLevel (when set) with a lead time of at least
// MinLead (when set) before its first setpoint crossing, and by an alert
// of Rule (when set), e.g. sensor_stuck for a frozen transmitter.
type Target struct {
	Incident string
	MaxLevel sensors.Level
	MinLead  *time.Duration
	Rule     string
	Line     int
}

// incidentKinds maps a scenario's incident type to a new value of its
// library type.
var incidentKinds = map[string]func() Incident{
	"gas_leak":            func() Incident { return &GasLeak{} },
	"gas_spread":          func() Incident { return &GasSpread{} },
	"tank_overfill":       func() Incident { return &TankOverfill{} },
	"runaway_temperature": func() Incident { return &RunawayTemperature{} },
	"pipeline_rupture":    func() Incident { return &PipelineRupture{} },
	"ventilation_failure": func() Incident { return &VentilationFailure{} },
	"tailings_rain":       func() Incident { return &TailingsRain{} },
	"stuck_sensor":        func() Incident { return &StuckSensor{} },
	"drifting_sensor":     func() Incident { return &DriftingSensor{} },
	"spikes":              func() Incident { return &Spikes{} },
	"sensor_offline":      func() Incident { return &SensorOffline{} },
	"gateway_offline":     func() Incident { return &GatewayOffline{} },
	"clock_skew":          func() Incident { return &ClockSkew{} },
}

// IncidentKinds lists the incident types a scenario may use.
func IncidentKinds() []string {
	out := make([]string, 0, len(incidentKinds))
	for k := range incidentKinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

type scenarioFile struct {
	Name        string        `yaml:"name"`
	Description string        `yaml:"description"`
	Seed        int64         `yaml:"seed"`
	Interval    time.Duration `yaml:"interval"`
	Duration    time.Duration `yaml:"duration"`
	// Fleet is decoded by parseFleet, which reports its own lines.
	Fleet yaml.Node `yaml:"fleet"`
	// TimeOfDay pins the daily cycle (Fleet.TimeOfDay); default noon.
	TimeOfDay *time.Duration `yaml:"time_of_day"`
	Incidents []yaml.Node    `yaml:"incidents"`
	Targets   []targetEntry  `yaml:"targets"`
}

// targetEntry is one detection target as written.
type targetEntry struct {
	Incident string         `yaml:"incident"`
	MaxLevel string         `yaml:"max_level"`
	MinLead  *time.Duration `yaml:"min_lead"`
	Rule     string         `yaml:"rule"`
}

// notFound rewords yaml.v3's message for an unknown key, which names a
// Go type the reader of a scenario has never heard of.
var notFound = regexp.MustCompile(`field (\S+) not found in type \S+`)

// ScenarioOptions change how a scenario is read.
type ScenarioOptions struct {
	// Fleet, when set, replaces the scenario's fleet section (a fleet
	// file, or one sized by --sites/--sensors); the incidents are then
	// checked against it.
	Fleet *Fleet
}

// MaxScenarioDuration bounds a scenario's device time: a month, which
// takes 45 minutes at --speed 1000.
const MaxScenarioDuration = 31 * 24 * time.Hour

// DefaultTimeOfDay is where a scenario's daily cycle starts when it
// says nothing: noon local solar time.
const DefaultTimeOfDay = 12 * time.Hour

// ruleName is what riskmon's rule ids look like.
var ruleName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// LoadScenario reads a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	return LoadScenarioWith(path, ScenarioOptions{})
}

// LoadScenarioWith reads a scenario file with options.
func LoadScenarioWith(path string, o ScenarioOptions) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseScenarioWith(path, f, o)
}

// ParseScenario reads a scenario; name prefixes its error messages, which
// carry the line of each problem.
func ParseScenario(name string, r io.Reader) (*Scenario, error) {
	return ParseScenarioWith(name, r, ScenarioOptions{})
}

// ParseScenarioWith is ParseScenario with options.
func ParseScenarioWith(name string, r io.Reader, o ScenarioOptions) (*Scenario, error) {
	raw, doc, err := decodeScenario(name, r)
	if err != nil {
		return nil, err
	}
	p := &scenarioParser{problems: problems{file: name}, doc: doc}
	sc := p.header(raw)
	if o.Fleet != nil {
		sc.Fleet = *o.Fleet
	} else {
		var fleetNode *yaml.Node
		if raw.Fleet.Kind != 0 {
			fleetNode = &raw.Fleet
		}
		fl, ferrs := parseFleet(name, fleetNode)
		if len(ferrs) > 0 {
			return nil, errors.Join(append(p.errs, ferrs...)...)
		}
		sc.Fleet = fl
	}
	p.timeOfDay(sc, raw.TimeOfDay)
	reg, err := sc.Fleet.Registry(sensors.DefaultCatalog())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ids := p.incidents(sc, raw.Incidents, reg)
	p.targets(sc, raw.Targets, ids)
	if err := errors.Join(p.errs...); err != nil {
		return nil, err
	}
	return sc, nil
}

// decodeScenario reads a scenario's fields, rejecting unknown ones, and
// the document again as a node: yaml.v3 gives lines only on nodes.
func decodeScenario(name string, r io.Reader) (scenarioFile, *yaml.Node, error) {
	var raw scenarioFile
	data, err := io.ReadAll(r)
	if err != nil {
		return raw, nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return raw, nil, fmt.Errorf("%s: empty scenario", name)
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = notFound.ReplaceAllString(msg, `unknown field "$1"`)
		return raw, nil, fmt.Errorf("%s: %s", name, msg)
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc)
	return raw, &doc, nil
}

// scenarioParser collects the problems of one scenario file; doc is the
// file as a node, for the lines of its keys.
type scenarioParser struct {
	problems
	doc *yaml.Node
}

// header checks the scenario's name, timing and length, filling in
// their defaults.
func (p *scenarioParser) header(raw scenarioFile) *Scenario {
	sc := &Scenario{Name: raw.Name, Description: raw.Description, Seed: raw.Seed, Interval: raw.Interval, Duration: raw.Duration}
	if sc.Name == "" {
		sc.Name = strings.TrimSuffix(baseName(p.file), ".yaml")
	}
	if sc.Interval == 0 {
		sc.Interval = DefaultInterval
	}
	if sc.Interval < 0 {
		p.fail(lineOf(p.doc, "interval"), "interval must be positive")
	}
	if sc.Duration <= 0 {
		p.fail(lineOf(p.doc, "duration"), "duration is required and must be positive")
	}
	if sc.Duration > MaxScenarioDuration {
		p.fail(lineOf(p.doc, "duration"), "duration %s is longer than %s", sc.Duration, MaxScenarioDuration)
	}
	return sc
}

// timeOfDay pins the fleet's daily cycle to raw, or to noon.
func (p *scenarioParser) timeOfDay(sc *Scenario, raw *time.Duration) {
	tod := DefaultTimeOfDay
	if raw != nil {
		tod = *raw
		if tod < 0 || tod >= 24*time.Hour {
			p.fail(lineOf(p.doc, "time_of_day"), "time_of_day %s must be a time of day (0s..24h)", tod)
		}
	}
	sc.Fleet.TimeOfDay = &tod
}

// incidents decodes the timeline and checks each incident against the
// fleet's sensors and gateways and the scenario's duration. It returns
// the ids seen, for the targets.
func (p *scenarioParser) incidents(sc *Scenario, raw []yaml.Node, reg *sensors.Registry) map[string]bool {
	gateways := map[GatewayRef]bool{}
	for _, g := range sc.Fleet.Gateways() {
		gateways[GatewayRef{g.Site, g.ID}] = true
	}
	ids := map[string]bool{}
	for i := range raw {
		n := &raw[i]
		si, err := parseIncident(n)
		if err != nil {
			p.fail(n.Line, "%s: %v", incidentName(i, si), err)
			continue
		}
		if ids[si.ID] {
			p.fail(n.Line, "incident %q: duplicate id", si.ID)
		}
		ids[si.ID] = true
		if err := si.Incident.Validate(); err != nil {
			p.fail(n.Line, "incident %q: %v", si.ID, err)
			continue
		}
		for _, ref := range si.Incident.Sensors() {
			if _, ok := reg.Lookup(ref.Site, ref.Sensor); !ok {
				p.fail(n.Line, "incident %q: no sensor %s in the fleet", si.ID, ref)
			}
		}
		if gi, ok := si.Incident.(GatewayIncident); ok && !gateways[gi.Gateway()] {
			p.fail(n.Line, "incident %q: no gateway %s in the fleet", si.ID, gi.Gateway())
		}
		if _, end := si.Incident.Span(); sc.Duration > 0 && end > sc.Duration {
			p.fail(n.Line, "incident %q: ends at %s, after the scenario's duration %s", si.ID, end, sc.Duration)
		}
		sc.Incidents = append(sc.Incidents, si)
	}
	return ids
}

// incidentName names timeline entry i in a message, by as much of it as
// could be read.
func incidentName(i int, si ScenarioIncident) string {
	what := fmt.Sprintf("incident %d", i+1)
	if si.ID != "" {
		what = fmt.Sprintf("incident %q", si.ID)
	}
	if si.Kind != "" {
		what += " (" + si.Kind + ")"
	}
	return what
}

// targets checks each detection target: a known incident, a rule name
// and a severity.
func (p *scenarioParser) targets(sc *Scenario, raw []targetEntry, ids map[string]bool) {
	lines := sequenceLines(p.doc, "targets")
	for i, t := range raw {
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		tg := Target{Incident: t.Incident, MinLead: t.MinLead, Rule: t.Rule, Line: line}
		if t.Rule != "" && !ruleName.MatchString(t.Rule) {
			p.fail(line, "target %q: rule %q is not a rule name (like sensor_stuck or ch4_high)", t.Incident, t.Rule)
		}
		if !ids[t.Incident] {
			p.fail(line, "target: no incident %q", t.Incident)
		}
		if t.MaxLevel != "" {
			l, err := sensors.ParseLevel(t.MaxLevel)
			if err != nil {
				p.fail(line, "target %q: max_level: %v", t.Incident, err)
			}
			tg.MaxLevel = l
		}
		sc.Targets = append(sc.Targets, tg)
	}
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// parseIncident decodes one timeline entry into its library type,
// rejecting fields the type does not have: yaml.v3 checks known fields
// only for a whole document, not for a node decoded on its own.
func parseIncident(n *yaml.Node) (ScenarioIncident, error) {
	si := ScenarioIncident{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return si, errors.New("want a mapping with id and type")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "id":
			si.ID = n.Content[i+1].Value
		case "type":
			si.Kind = n.Content[i+1].Value
		}
	}
	if si.ID == "" || si.Kind == "" {
		return si, errors.New("id and type are required")
	}
	mk, ok := incidentKinds[si.Kind]
	if !ok {
		return si, fmt.Errorf("unknown type %q (want one of %s)", si.Kind, strings.Join(IncidentKinds(), ", "))
	}
	inc := mk()
	if err := checkFields(n, reflect.TypeOf(inc).Elem(), "id", "type"); err != nil {
		return si, err
	}
	if err := n.Decode(inc); err != nil {
		return si, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	// The library's methods have value receivers; keep values so the
	// incidents compare and copy like the ones built in Go.
	si.Incident = reflect.ValueOf(inc).Elem().Interface().(Incident)
	return si, nil
}

// checkFields reports keys of mapping n that struct t has no yaml field
// for, descending into nested structs and lists of structs.
func checkFields(n *yaml.Node, t reflect.Type, extra ...string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		var errs []error
		for _, item := range n.Content {
			errs = append(errs, checkFields(item, t.Elem()))
		}
		return errors.Join(errs...)
	case n.Kind != yaml.MappingNode || t.Kind() != reflect.Struct:
		return nil
	}
	fields := map[string]reflect.Type{}
	collectFields(t, fields)
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if slices.Contains(extra, k.Value) {
			continue
		}
		ft, ok := fields[k.Value]
		if !ok {
			names := make([]string, 0, len(fields))
			for name := range fields {
				names = append(names, name)
			}
			slices.Sort(names)
			errs = append(errs, fmt.Errorf("line %d: unknown field %q (known: %s)", k.Line, k.Value, strings.Join(names, ", ")))
			continue
		}
		errs = append(errs, checkFields(v, ft))
	}
	return errors.Join(errs...)
}

func collectFields(t reflect.Type, into map[string]reflect.Type) {
	for f := range t.Fields() {
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		switch {
		case name == "-" || !f.IsExported():
		case opts == "inline":
			collectFields(f.Type, into)
		case name == "":
			into[strings.ToLower(f.Name)] = f.Type
		default:
			into[name] = f.Type
		}
	}
}

// topValue returns the value node of key in the document's top mapping.
func topValue(doc *yaml.Node, key string) (k, v *yaml.Node) {
	if doc == nil || doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	return yamlpos.MapValue(doc.Content[0], key)
}

// lineOf is the line of a top-level key, or 1 when it is missing.
func lineOf(doc *yaml.Node, key string) int {
	return cmp.Or(yamlpos.NewDoc("", doc).Locate(key).Line, 1)
}

func sequenceLines(doc *yaml.Node, key string) []int {
	_, v := topValue(doc, key)
	if v == nil || v.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]int, len(v.Content))
	for i, item := range v.Content {
		out[i] = item.Line
	}
	return out
}

// Scripted returns the scenario's incidents for Options.Scripted.
func (s *Scenario) Scripted() []Incident {
	out := make([]Incident, len(s.Incidents))
	for i, si := range s.Incidents {
		out[i] = si.Incident
	}
	return out
}

// Truth computes the scenario's ground truth for a run whose device time
// starts at start, with each incident's detection target attached.
func (s *Scenario) Truth(start time.Time) (*Truth, error) {
	targets := map[string]*TruthTarget{}
	for _, t := range s.Targets {
		tt := &TruthTarget{MaxLevel: t.MaxLevel, Rule: t.Rule}
		if t.MinLead != nil {
			secs := t.MinLead.Seconds()
			tt.MinLeadSeconds = &secs
		}
		targets[t.Incident] = tt
	}
	named := make([]NamedIncident, len(s.Incidents))
	for i, si := range s.Incidents {
		named[i] = NamedIncident{ID: si.ID, Kind: si.Kind, Incident: si.Incident, Target: targets[si.ID]}
	}
	return BuildTruth(s.Fleet, nil, s.Name, s.Seed, start, s.Duration, s.Interval, named)
}

// staleTick is how often riskmon checks for silent sensors.
const staleTick = time.Second

// MaxSpeed is the fastest --speed at which every targeted sensor outage
// of the scenario is noticed within its first half: riskmon raises
// sensor_stale on its own wall clock after 3 of the kind's reporting
// intervals of silence (its default), and an outage of d device time at
// speed S is d/S of silence. It is +Inf when no target depends on the
// wall clock.
func (s *Scenario) MaxSpeed() float64 {
	targeted := map[string]bool{}
	for _, t := range s.Targets {
		targeted[t.Incident] = true
	}
	reg, err := s.Fleet.Registry(sensors.DefaultCatalog())
	if err != nil {
		return math.Inf(1)
	}
	limit := math.Inf(1)
	for _, si := range s.Incidents {
		off, ok := si.Incident.(SensorOffline)
		if !ok || !targeted[si.ID] {
			continue
		}
		sn, ok := reg.Lookup(off.Site, off.Sensor)
		if !ok {
			continue
		}
		need := 3*sn.KindInfo().Interval + staleTick
		limit = math.Min(limit, off.Duration.Seconds()/2/need.Seconds())
	}
	return limit
}
