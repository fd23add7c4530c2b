// Package simulator plays a fleet of gateways: it models each sensor's
// signal, injects incidents with known ground truth and malformed
// messages, and publishes to an MQTT broker the way real gateways do
// (docs/protocol.md), each gateway in its format: JSON batches, InfluxDB
// line protocol or Sparkplug B. Its load mode doubles as the benchmark
// driver.
package simulator

import (
	"fmt"
	"time"

	"github.com/riskmon/riskmon/protocol"
	"github.com/riskmon/riskmon/protocol/sparkplug"
	"github.com/riskmon/riskmon/sensors"
)

// Fleet is a set of sites and their sensors, ready for sensors.NewRegistry
// and for a Publisher.
type Fleet struct {
	Sites   []sensors.Site
	Sensors []sensors.Sensor
	// Nominal holds a sensor's normal operating value from its site's
	// design, keyed by "site/sensor" like sensors.Reading.Key. The signal
	// model needs it where no rule of thumb gives a sensible value (a
	// pond's water level is an elevation); sensors not listed get a value
	// derived from their kind and setpoints.
	Nominal map[string]float64
	// Format is the payload format of every gateway not in Formats;
	// empty means JSON.
	Format Format
	// Formats sets the format of one gateway, keyed "site/gateway", or
	// of every gateway of a site, keyed "site"; the gateway's entry wins.
	Formats map[string]Format
	// Intervals sets the reporting interval of one gateway, keyed
	// "site/gateway", or of every gateway of a site, keyed "site"; the
	// gateway's entry wins. KindIntervals gives every other gateway the
	// shortest reporting interval (sensors.Kind.Interval) of its
	// sensors' kinds, as a real gateway polls its instruments; the rest
	// report at the run's interval.
	Intervals     map[string]time.Duration
	KindIntervals bool
	// TimeOfDay, when set, pins the daily cycle of every signal: elapsed
	// 0 is at this local solar time at every site. Without it the cycle
	// follows the run's device start and each site's longitude.
	TimeOfDay *time.Duration
	// Models replaces the default signal model (KindModel) of a kind.
	Models map[sensors.KindID]Model
	// Places says where a site is, keyed by site id; the daily cycle of
	// its signals follows its longitude.
	Places map[string]Place
}

// Place is where a site is: a region name and, when HasCoordinates, its
// coordinates in degrees (WGS 84).
type Place struct {
	Region         string
	Lat, Lon       float64
	HasCoordinates bool
}

// Registry checks the fleet against a catalog and builds its registry.
func (f Fleet) Registry(cat *sensors.Catalog) (*sensors.Registry, error) {
	reg, err := sensors.NewRegistry(cat, f.Sites, f.Sensors)
	if err != nil {
		return nil, fmt.Errorf("simulator fleet: %w", err)
	}
	return reg, nil
}

// Gateway is one gateway of a fleet and the sensors it reports, in fleet
// order.
type Gateway struct {
	Site    string
	ID      string
	Sensors []string
	Format  Format // never empty
	// Interval is the gateway's reporting interval from Fleet.Intervals;
	// zero means the run's (or, with KindIntervals, its kinds').
	Interval time.Duration
}

// ReadingsTopic is where the gateway publishes its JSON batches.
func (g Gateway) ReadingsTopic() string { return protocol.ReadingsTopic(g.Site, g.ID) }

// DataTopic is where the gateway publishes its readings in its format:
// the JSON readings topic, the line protocol topic or its Sparkplug
// NDATA topic.
func (g Gateway) DataTopic() string {
	switch g.Format {
	case FormatLP:
		return protocol.LPTopic(g.Site, g.ID)
	case FormatSparkplug:
		return sparkplug.NodeTopic(g.Site, sparkplug.NDATA, g.ID)
	}
	return protocol.ReadingsTopic(g.Site, g.ID)
}

// StatusTopic is where the gateway's retained online/offline state lives.
func (g Gateway) StatusTopic() string { return protocol.StatusTopic(g.Site, g.ID) }

// Gateways groups the fleet's sensors by gateway, in the order each
// gateway first appears. Sensors without a gateway are reported by one
// named "gw1", since every reading needs a topic.
func (f Fleet) Gateways() []Gateway {
	var out []Gateway
	index := map[[2]string]int{}
	for _, s := range f.Sensors {
		gw := s.Gateway
		if gw == "" {
			gw = "gw1"
		}
		k := [2]string{s.Site, gw}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, Gateway{Site: s.Site, ID: gw, Format: f.FormatOf(s.Site, gw), Interval: f.intervalOf(s.Site, gw)})
		}
		out[i].Sensors = append(out[i].Sensors, s.ID)
	}
	return out
}

// sourceDesign marks setpoints a real site takes from its design
// documents; the simulator invents plausible ones.
const sourceDesign = "site design (simulated)"

// point is one measuring point of a site template.
type point struct {
	tag      string // instrument tag prefix, e.g. "GT" for a gas transmitter
	kind     sensors.KindID
	gateway  int // 1-based
	location string
	role     string
	// setpoints are set for design-specific kinds; empty means the
	// kind's defaults from national rules apply.
	setpoints []sensors.Setpoint
	// nominal is the normal operating value, or nil to derive it.
	nominal *float64
}

// template is the typical instrumentation of one kind of site.
type template struct {
	id     string
	sector sensors.Sector
	prefix string // site id prefix
	name   string // site name, %02d takes the site number
	points []point
}

func num(v float64) *float64 { return &v }

func sp(level sensors.Level, dir sensors.Direction, v float64, src string) sensors.Setpoint {
	return sensors.Setpoint{Level: level, Direction: dir, Value: v, Source: src}
}

// templates returns one site template per sector, in sensors.Sectors
// order. The sets follow ../shared/domain.md section (a): what the
// regulations say such a site monitors. It is a plain data table, one
// row per measuring point, and is kept whole so that a site reads top to
// bottom; the functions that use it hold the logic.
func templates() []template {
	const (
		above  = sensors.Above
		below  = sensors.Below
		red    = sensors.LevelRed
		orange = sensors.LevelOrange
		yellow = sensors.LevelYellow
	)
	// A 20 m floating-roof tank: low alarm at least 0.2 m above roof
	// landing (GB 50074 §15.1), HH well below the shell top.
	tankLevel := []sensors.Setpoint{
		sp(red, below, 1.2, sourceDesign), sp(orange, below, 2.0, sourceDesign),
		sp(orange, above, 17.0, sourceDesign), sp(red, above, 18.0, sourceDesign),
	}
	tankTemp := []sensors.Setpoint{sp(orange, above, 45, sourceDesign), sp(red, above, 55, sourceDesign)}
	// Pump discharge header of the tank farm's transfer pumps.
	pumpPressure := []sensors.Setpoint{
		sp(orange, below, 0.3, sourceDesign),
		sp(orange, above, 1.4, sourceDesign), sp(red, above, 1.6, sourceDesign),
	}
	// Coal: the face return airway T2 cuts power at the alarm value.
	ch4T2 := []sensors.Setpoint{
		{Level: orange, Direction: above, Value: 1.0, Clear: 1.0, Source: "AQ 1029-2019 mine settings table, face return airway T2 [S]"},
		{Level: red, Direction: above, Value: 1.0, Clear: 1.0, Source: "AQ 1029-2019 mine settings table, face return airway T2 [S]"},
	}
	// District return airways allow 0.25-6 m/s instead of the face's 0.25-4.
	windReturn := []sensors.Setpoint{
		sp(orange, below, 0.25, "煤矿安全规程 wind-speed table, district return [S]"),
		sp(orange, above, 6, "煤矿安全规程 wind-speed table, district return [S]"),
	}
	// Tailings: yellow at the operating control level, orange at the
	// pre-flood control level, red at the design highest flood level
	// (GB 51108 §8.3.6 names the levels, not their colours).
	pondLevel := []sensors.Setpoint{
		sp(yellow, above, 1262.0, sourceDesign), sp(orange, above, 1263.0, sourceDesign), sp(red, above, 1265.5, sourceDesign),
	}
	beach := []sensors.Setpoint{
		sp(yellow, below, 100, sourceDesign), sp(orange, below, 85, sourceDesign), sp(red, below, 70, sourceDesign),
	}
	// Orange = 1.1 x red per GB 51108 §8.3.4; red from the pond's design.
	phreatic := []sensors.Setpoint{
		sp(yellow, below, 8.0, sourceDesign), sp(orange, below, 6.6, sourceDesign), sp(red, below, 6.0, sourceDesign),
	}
	displacement := []sensors.Setpoint{
		sp(yellow, above, 30, sourceDesign), sp(orange, above, 50, sourceDesign), sp(red, above, 80, sourceDesign),
	}
	rain := []sensors.Setpoint{
		sp(yellow, above, 50, "GB 51108 §8.3.7: rainstorm, 50 mm in 24 h [Q]"),
		sp(orange, above, 100, sourceDesign), sp(red, above, 250, sourceDesign),
	}
	stationIn := []sensors.Setpoint{
		sp(orange, below, 4.0, sourceDesign), sp(orange, above, 6.0, sourceDesign), sp(red, above, 6.3, sourceDesign),
	}
	stationOut := []sensors.Setpoint{
		sp(orange, below, 2.5, sourceDesign), sp(orange, above, 4.2, sourceDesign), sp(red, above, 4.4, sourceDesign),
	}
	stationFlow := []sensors.Setpoint{sp(orange, below, 3000, sourceDesign), sp(orange, above, 45000, sourceDesign)}
	// Medium-pressure A network: 0.2-0.4 MPa (GB 50028 pressure classes).
	mediumA := []sensors.Setpoint{
		sp(orange, below, 0.2, sourceDesign), sp(orange, above, 0.38, sourceDesign), sp(red, above, 0.4, sourceDesign),
	}

	return []template{
		{"tank_farm", sensors.SectorHazchem, "hz", "Tank farm %02d", []point{
			{tag: "LT", kind: "tank_level", gateway: 1, location: "Tank T-101 (floating roof)", setpoints: tankLevel, nominal: num(9.6)},
			{tag: "LT", kind: "tank_level", gateway: 1, location: "Tank T-102 (floating roof)", setpoints: tankLevel, nominal: num(12.3)},
			{tag: "TT", kind: "tank_temperature", gateway: 1, location: "Tank T-101", setpoints: tankTemp},
			{tag: "TT", kind: "tank_temperature", gateway: 1, location: "Tank T-102", setpoints: tankTemp},
			{tag: "PT", kind: "pressure", gateway: 1, location: "Transfer pump P-101 discharge header", setpoints: pumpPressure},
			{tag: "GT", kind: "combustible_gas", gateway: 2, location: "T-101 dike, north"},
			{tag: "GT", kind: "combustible_gas", gateway: 2, location: "T-101 dike, south"},
			{tag: "GT", kind: "combustible_gas", gateway: 2, location: "T-102 dike"},
			{tag: "GT", kind: "combustible_gas", gateway: 2, location: "Transfer pump P-101"},
			{tag: "AT", kind: "h2s", gateway: 2, location: "T-101 roof platform"},
		}},
		{"coal_face", sensors.SectorCoal, "coal", "Coal mine %02d, working face 3102", []point{
			{tag: "CH4", kind: "ch4", gateway: 1, location: "Working face", role: "T1"},
			// The upper-corner T0 row equals the kind's T1 defaults.
			{tag: "CH4", kind: "ch4", gateway: 1, location: "Upper corner", role: "T0", nominal: num(0.35)},
			{tag: "CO", kind: "co_mine", gateway: 1, location: "Working face"},
			{tag: "O2", kind: "o2_mine", gateway: 1, location: "Face intake airway"},
			{tag: "WS", kind: "wind_speed", gateway: 1, location: "Working face"},
			{tag: "TT", kind: "mine_temperature", gateway: 1, location: "Working face"},
			{tag: "DU", kind: "dust", gateway: 1, location: "Shearer, downwind"},
			{tag: "CH4", kind: "ch4", gateway: 2, location: "Face return airway", role: "T2", setpoints: ch4T2, nominal: num(0.3)},
			{tag: "CO", kind: "co_mine", gateway: 2, location: "Face return airway"},
			{tag: "WS", kind: "wind_speed", gateway: 2, location: "Face return airway", setpoints: windReturn, nominal: num(2.4)},
		}},
		{"tailings_pond", sensors.SectorNonCoal, "tail", "Tailings pond %02d", []point{
			{tag: "LW", kind: "pond_water_level", gateway: 1, location: "Decant tower gauge", setpoints: pondLevel, nominal: num(1259.6)},
			{tag: "BL", kind: "dry_beach_length", gateway: 1, location: "Beach, main section", setpoints: beach, nominal: num(132)},
			{tag: "RG", kind: "rainfall", gateway: 1, location: "Rain gauge, 24 h total", setpoints: rain, nominal: num(0.4)},
			{tag: "PZ", kind: "phreatic_depth", gateway: 2, location: "Section I-I, berm 3", setpoints: phreatic, nominal: num(10.5)},
			{tag: "PZ", kind: "phreatic_depth", gateway: 2, location: "Section II-II, berm 3", setpoints: phreatic, nominal: num(11.2)},
			{tag: "DM", kind: "dam_displacement", gateway: 2, location: "GNSS station crest, section I-I", setpoints: displacement, nominal: num(8)},
			{tag: "DM", kind: "dam_displacement", gateway: 2, location: "GNSS station crest, section II-II", setpoints: displacement, nominal: num(11)},
		}},
		{"pipeline_station", sensors.SectorPipeline, "pipe", "Pipeline station %02d", []point{
			{tag: "PT", kind: "pressure", gateway: 1, location: "Station inlet", setpoints: stationIn},
			{tag: "PT", kind: "pressure", gateway: 1, location: "Station outlet, after regulation", setpoints: stationOut},
			{tag: "FT", kind: "flow", gateway: 1, location: "Metering skid", setpoints: stationFlow, nominal: num(21500)},
			{tag: "GT", kind: "combustible_gas", gateway: 1, location: "Metering skid"},
			{tag: "GT", kind: "combustible_gas", gateway: 1, location: "Valve room"},
		}},
		{"gas_district", sensors.SectorUrbanGas, "gas", "Gas district %02d", []point{
			{tag: "PT", kind: "line_pressure", gateway: 1, location: "Regulator station RS-1 outlet, medium-A", setpoints: mediumA},
			{tag: "PT", kind: "line_pressure", gateway: 1, location: "Network end point, medium-A", setpoints: mediumA, nominal: num(0.26)},
			{tag: "GT", kind: "combustible_gas", gateway: 1, location: "Valve well VW-12"},
			{tag: "GT", kind: "tunnel_gas", gateway: 2, location: "Utility tunnel gas compartment, zone 1"},
			{tag: "GT", kind: "tunnel_gas", gateway: 2, location: "Utility tunnel gas compartment, zone 2"},
			{tag: "MT", kind: "manhole_tilt", gateway: 2, location: "Manhole MH-031"},
			{tag: "MT", kind: "manhole_tilt", gateway: 2, location: "Manhole MH-047"},
			{tag: "GT", kind: "combustible_gas", gateway: 2, location: "Manhole MH-031, adjacent space"},
		}},
	}
}

// builder assembles a fleet, numbering sites per sector and sensors per
// gateway the way plant instrument lists do: gateway 1 holds GT-101,
// PT-102..., gateway 2 holds GT-201...
type builder struct {
	f       Fleet
	perSite map[string]int // sites built per prefix
}

func newBuilder() *builder {
	return &builder{f: Fleet{Nominal: map[string]float64{}}, perSite: map[string]int{}}
}

func (b *builder) site(t template) string {
	b.perSite[t.prefix]++
	n := b.perSite[t.prefix]
	id := fmt.Sprintf("%s-%02d", t.prefix, n)
	b.f.Sites = append(b.f.Sites, sensors.Site{ID: id, Name: fmt.Sprintf(t.name, n), Sector: t.sector})
	return id
}

// sensor adds p at site as the nth (1-based) sensor of gateway gw.
func (b *builder) sensor(site string, p point, gw, n int, location string) {
	id := fmt.Sprintf("%s-%d", p.tag, gw*100+n)
	b.f.Sensors = append(b.f.Sensors, sensors.Sensor{
		ID:        id,
		Site:      site,
		Kind:      p.kind,
		Gateway:   fmt.Sprintf("gw%d", gw),
		Location:  location,
		Role:      p.role,
		Setpoints: append([]sensors.Setpoint(nil), p.setpoints...),
	})
	if p.nominal != nil {
		b.f.Nominal[site+"/"+id] = *p.nominal
	}
}

// templateSite adds the first n points of t to site, on the template's
// gateways; n beyond the template's size is cut to it.
func (b *builder) templateSite(site string, t template, n int) {
	count := map[int]int{}
	for _, p := range t.points[:min(n, len(t.points))] {
		count[p.gateway]++
		b.sensor(site, p, p.gateway, count[p.gateway], p.location)
	}
}

// TemplateIDs lists the site templates, one per sector in sensors.Sectors
// order: tank_farm, coal_face, tailings_pond, pipeline_station,
// gas_district.
func TemplateIDs() []string {
	var out []string
	for _, t := range templates() {
		out = append(out, t.id)
	}
	return out
}

// findTemplate finds a template by id or by sector.
func findTemplate(name string) (template, bool) {
	for _, t := range templates() {
		if t.id == name || string(t.sector) == name {
			return t, true
		}
	}
	return template{}, false
}

// DemoFleet returns sitesPerSector sites of every sector (at least one),
// each instrumented as its template says, with one or two gateways.
func DemoFleet(sitesPerSector int) Fleet {
	sitesPerSector = max(sitesPerSector, 1)
	b := newBuilder()
	for _, t := range templates() {
		for range sitesPerSector {
			b.templateSite(b.site(t), t, len(t.points))
		}
	}
	return b.f
}

// SizedFleet builds a fleet of any size from the site templates, cycling
// through the sectors (hz-01, coal-01, tail-01, pipe-01, gas-01, hz-02…):
//
//   - sites only: that many sites, each with its template's full set;
//   - sensors only: whole template sites until there are that many
//     sensors, the last site cut short;
//   - both: that many sites sharing that many sensors evenly, each
//     site's drawn from its template in order; a site with more sensors
//     than its template has all of them on the template's gateways and
//     the rest, the template's points again, on further gateways of up
//     to 20 sensors.
//
// A site keeps its template's gateways and sensor ids as far as its
// sensors go, so scenarios written for the demo fleet play on them.
func SizedFleet(sites, sensorCount int) (Fleet, error) {
	if sites < 0 || sensorCount < 0 || (sites == 0 && sensorCount == 0) {
		return Fleet{}, fmt.Errorf("simulator fleet: want a positive number of sites or sensors, not %d and %d", sites, sensorCount)
	}
	if sites > 0 && sensorCount > 0 && sensorCount < sites {
		return Fleet{}, fmt.Errorf("simulator fleet: %d sensors cannot fill %d sites", sensorCount, sites)
	}
	tmpl := templates()
	produced := sites
	if sites == 0 {
		// Whole template sites until the sensors run out: count them
		// first, as a sensor count alone can ask for too many sites.
		for left := sensorCount; left > 0 && produced <= MaxFleetSites; produced++ {
			left -= min(left, len(tmpl[produced%len(tmpl)].points))
		}
	}
	if err := checkSize(produced, sensorCount); err != nil {
		return Fleet{}, fmt.Errorf("simulator fleet: %w", err)
	}
	b := newBuilder()
	switch {
	case sensorCount == 0:
		for i := range sites {
			t := tmpl[i%len(tmpl)]
			b.templateSite(b.site(t), t, len(t.points))
		}
	case sites == 0:
		for i, left := 0, sensorCount; left > 0; i++ {
			t := tmpl[i%len(tmpl)]
			b.templateSite(b.site(t), t, left)
			left -= min(left, len(t.points))
		}
	default:
		for i := range sites {
			t := tmpl[i%len(tmpl)]
			n := sensorCount / sites
			if i < sensorCount%sites {
				n++
			}
			site := b.site(t)
			b.templateSite(site, t, n)
			b.extraSensors(site, t, n-len(t.points))
		}
	}
	return b.f, nil
}

// extraSensors adds n more sensors to a site built from t, drawn in turn
// from t's points, on gateways after the template's, 20 to a gateway.
func (b *builder) extraSensors(site string, t template, n int) {
	last := 0
	for _, p := range t.points {
		last = max(last, p.gateway)
	}
	// The template's own points are the first round.
	b.cycled(site, t, n, last+1, 2)
}

// cycledSite adds n sensors drawn in turn from t's points to site, on
// gateways of syntheticGatewaySize.
func (b *builder) cycledSite(site string, t template, n int) {
	b.cycled(site, t, n, 1, 1)
}

// cycled adds n sensors drawn in turn from t's points to site, on
// gateways of syntheticGatewaySize numbered from gateway. The points'
// rounds are numbered from round; a point of round 2 or later has
// " #round" after its location.
func (b *builder) cycled(site string, t template, n, gateway, round int) {
	for j := range n {
		p := t.points[j%len(t.points)]
		loc := p.location
		if r := round + j/len(t.points); r > 1 {
			loc = fmt.Sprintf("%s #%d", loc, r)
		}
		b.sensor(site, p, gateway+j/syntheticGatewaySize, j%syntheticGatewaySize+1, loc)
	}
}

// syntheticGatewaySize is how many sensors one synthetic gateway reports:
// a typical RTU or KJ substation has 8 to 64 channels.
const syntheticGatewaySize = 20

// SyntheticFleet returns sites sites cycling through the sectors, each
// with sensorsPerSite sensors drawn in turn from its sector's template and
// split into gateways of up to 20 sensors. It is meant for load, where the
// size matters more than the exact instrument list.
func SyntheticFleet(sites, sensorsPerSite int) Fleet {
	sites, sensorsPerSite = max(sites, 1), max(sensorsPerSite, 1)
	tmpl := templates()
	b := newBuilder()
	for i := range sites {
		t := tmpl[i%len(tmpl)]
		b.cycledSite(b.site(t), t, sensorsPerSite)
	}
	return b.f
}

// GatewayFleet returns gateways sites cycling through the sectors, each
// with one gateway "gw1" reporting sensorsPerGateway sensors drawn in turn
// from its sector's template. It sizes a load run by what a broker sees:
// connections and messages, not sites.
func GatewayFleet(gateways, sensorsPerGateway int) Fleet {
	gateways, sensorsPerGateway = max(gateways, 1), max(sensorsPerGateway, 1)
	tmpl := templates()
	b := newBuilder()
	for i := range gateways {
		t := tmpl[i%len(tmpl)]
		site := b.site(t)
		for j := range sensorsPerGateway {
			p := t.points[j%len(t.points)]
			loc := p.location
			if round := j / len(t.points); round > 0 {
				loc = fmt.Sprintf("%s #%d", loc, round+1)
			}
			b.sensor(site, p, 1, j+1, loc)
		}
	}
	return b.f
}

func (f Fleet) intervalOf(site, gateway string) time.Duration {
	if v, ok := f.Intervals[site+"/"+gateway]; ok {
		return v
	}
	return f.Intervals[site]
}

// checkIntervals rejects intervals that are not positive and keys that
// name no site or gateway of the fleet.
func (f Fleet) checkIntervals() error {
	known := map[string]bool{}
	for _, g := range f.Gateways() {
		known[g.Site] = true
		known[g.Site+"/"+g.ID] = true
	}
	for key, v := range f.Intervals {
		if v <= 0 {
			return fmt.Errorf("simulator fleet: interval of %s: %s must be positive", key, v)
		}
		if !known[key] {
			return fmt.Errorf("simulator fleet: interval for %s, which is no site or site/gateway of the fleet", key)
		}
	}
	return nil
}
