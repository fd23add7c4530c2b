package sensors

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Site is one supervised place: a tank farm, a mine, a pond, a pipeline
// station or a district gas network.
type Site struct {
	ID     string
	Name   string
	Sector Sector
	// Guidance overrides the shipped response procedure and consequence
	// of a kind's alarms at this site (guidance.go); texts left empty
	// keep the default.
	// A pointer, so that Site stays comparable.
	Guidance *SiteGuidance
}

// Sensor is one measuring point of a site.
type Sensor struct {
	ID   string
	Site string
	Kind KindID
	// Unit is the unit the sensor reports in: empty for its kind's own,
	// else one of the kind's Units (a tank level in % of span rather
	// than metres). KindInfo then gives the kind in that unit.
	Unit    string
	Gateway string
	// Sparkplug is the sensor's Sparkplug B address within its edge
	// node (the gateway): "{device_id}/{metric name}" for a device's
	// metric, "/{metric name}" for one of the edge node itself. The metric
	// name may be a folder path, as Ignition publishes tags
	// ("gas-skid-1/Gas/GT-101"). Empty: the metric name is the sensor id.
	Sparkplug string
	Location  string
	// Role is the location role where a kind's limits depend on it, such
	// as coal-mine T0/T1/T2 for methane.
	Role string
	// Setpoints override the kind's defaults when not empty; restore
	// values are already resolved against the kind's deadband.
	Setpoints []Setpoint

	kind  *Kind
	index int
	plain bool
}

// KindInfo is the sensor's kind from the catalog the registry was built on.
func (s *Sensor) KindInfo() *Kind { return s.kind }

// PlainIDs reports whether the sensor's id, its site's id and its kind
// are all ValidID, as the registry files require (NewRegistry itself
// does not). Such a name holds no byte that line protocol, MQTT topics or
// file names reserve, so writers can copy it without checking.
func (s *Sensor) PlainIDs() bool { return s.plain }

// Index is the sensor's position in its registry's Sensors(), so state kept
// per sensor can live in a slice instead of a map keyed by site and id.
// Check that Sensors()[Index()] is the same pointer before relying on it:
// another registry (after a reload) orders its sensors its own way.
func (s *Sensor) Index() int { return s.index }

// EffectiveSetpoints are the sensor's own setpoints, or else its kind's.
func (s *Sensor) EffectiveSetpoints() []Setpoint {
	if len(s.Setpoints) > 0 {
		return s.Setpoints
	}
	return s.kind.Resolve(s.kind.Setpoints)
}

// Registry is a fleet's sites and sensors, checked against a catalog.
// It is read-only once built, so lookups need no lock.
type Registry struct {
	catalog *Catalog
	sites   map[string]*siteSlot
	sensors map[string]map[string]*Sensor // site -> sensor id -> sensor
	order   []*Sensor
	spb     map[spbAddr]*Sensor
	gws     map[[2]string]bool // site, gateway of some sensor
}

// siteSlot is a site and what the registry knows of it beyond its
// description, found with one lookup by id.
type siteSlot struct {
	site  Site
	index int
	first *Sensor // the first of its sensors added; nil while it has none
}

// SiteRef is a site as its registry holds it: Index is its position
// among the registry's sites (0 to NumSites()-1, in the order they were
// added), so that state kept per site can live in a slice; First is the
// first of its sensors in registry order, nil when it has none. Both
// belong to this registry: another one (after a reload) numbers its
// sites its own way.
type SiteRef struct {
	Site  *Site
	Index int
	First *Sensor
}

// spbAddr is a Sparkplug address at a site, the key of Registry.spb.
type spbAddr struct{ site, device, metric string }

// SplitSparkplug splits a Sparkplug address into its device id (empty for
// a metric of the edge node itself) and metric name. ok is false when
// the address is malformed: no '/', an empty metric, or a device id with
// an MQTT wildcard.
func SplitSparkplug(addr string) (device, metric string, ok bool) {
	device, metric, found := strings.Cut(addr, "/")
	if !found || metric == "" || strings.ContainsAny(device, "+#") {
		return "", "", false
	}
	return device, metric, true
}

// SparkplugDevice is the device id of the sensor's Sparkplug address,
// empty for none or for a metric of the edge node itself.
func (s *Sensor) SparkplugDevice() string {
	d, _, _ := SplitSparkplug(s.Sparkplug)
	return d
}

// NewRegistry checks sites and sensors against the catalog and returns
// every problem at once, so a fleet file is fixed in one pass.
func NewRegistry(cat *Catalog, sites []Site, sensors []Sensor) (*Registry, error) {
	r := &Registry{
		catalog: cat,
		sites:   make(map[string]*siteSlot, len(sites)),
		sensors: make(map[string]map[string]*Sensor, len(sites)),
	}
	var errs []string
	shared := names{}
	for i := range sites {
		if err := r.addSite(sites[i], shared); err != nil {
			errs = append(errs, err.Error())
		}
	}
	units := kindUnits{}
	// The entries side by side in one array, in registry order, for the
	// reason packIDs gives.
	entries := make([]Sensor, len(sensors))
	ids := packIDs(sensors)
	for i := range sensors {
		s := sensors[i]
		s.ID = ids[i]
		if err := r.addSensor(s, &entries[i], units, shared); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("registry: %s", strings.Join(errs, "; "))
	}
	return r, nil
}

// packIDs returns the sensors' ids as parts of one string, in their
// order. A gateway mostly lists its sensors in registry order, and each
// reading's id is compared with its entry's: ids that lie side by side
// share cache lines, where ids allocated one by one as a registry file
// was parsed lie among its names and locations, a cache miss each on a
// large fleet.
func packIDs(sensors []Sensor) []string {
	n := 0
	for i := range sensors {
		n += len(sensors[i].ID)
	}
	var b strings.Builder
	b.Grow(n)
	for i := range sensors {
		b.WriteString(sensors[i].ID)
	}
	all := b.String()
	ids := make([]string, len(sensors))
	off := 0
	for i := range sensors {
		ids[i] = all[off : off+len(sensors[i].ID)]
		off += len(sensors[i].ID)
	}
	return ids
}

// names keeps one copy of each string the registry holds many equal ones
// of: a site's id in each of its sensors, kinds, sectors, gateways. Every
// reading is validated and stored with these, and on a fleet of tens of
// thousands of sensors a copy of its own per sensor is a cache miss of its
// own per reading; one copy stays in the cache. Equal strings that share
// their bytes also compare at once (the pointers are equal).
type names map[string]string

func (n names) of(s string) string {
	if c, ok := n[s]; ok {
		return c
	}
	n[s] = s
	return s
}

func (r *Registry) addSite(s Site, shared names) error {
	if s.ID == "" {
		return errors.New("site without id")
	}
	if _, dup := r.sites[s.ID]; dup {
		return fmt.Errorf("duplicate site %q", s.ID)
	}
	s.ID, s.Sector = shared.of(s.ID), Sector(shared.of(string(s.Sector)))
	r.sites[s.ID] = &siteSlot{site: s, index: len(r.sites)}
	r.sensors[s.ID] = map[string]*Sensor{}
	return nil
}

// addSensor checks s against its site and the catalog and adds it as the
// entry e, with its kind in its unit and its setpoints resolved.
func (r *Registry) addSensor(s Sensor, e *Sensor, units kindUnits, shared names) error {
	bySite, ok := r.sensors[s.Site]
	if !ok {
		return fmt.Errorf("sensor %q: unknown site %q", s.ID, s.Site)
	}
	k, ok := r.catalog.Kind(s.Kind)
	if !ok {
		return fmt.Errorf("sensor %s/%s: unknown kind %q", s.Site, s.ID, s.Kind)
	}
	if _, dup := bySite[s.ID]; dup {
		return fmt.Errorf("duplicate sensor %s/%s", s.Site, s.ID)
	}
	if s.Unit != "" {
		ku, err := units.of(k, &s)
		if err != nil {
			return err
		}
		if ku == k {
			s.Unit = "" // the kind's own unit
		}
		k = ku
	}
	if s.Sparkplug != "" {
		if err := r.addSparkplug(&s); err != nil {
			return err
		}
	}
	if s.Gateway != "" {
		if r.gws == nil {
			r.gws = map[[2]string]bool{}
		}
		r.gws[[2]string{s.Site, s.Gateway}] = true
	}
	s.Site, s.Kind, s.Gateway = shared.of(s.Site), KindID(shared.of(string(s.Kind))), shared.of(s.Gateway)
	s.kind = k
	s.plain = ValidID(s.ID) && ValidID(s.Site) && ValidID(string(s.Kind))
	s.Setpoints = k.Resolve(s.Setpoints)
	s.index = len(r.order)
	*e = s
	bySite[s.ID] = e
	r.order = append(r.order, e)
	if slot := r.sites[s.Site]; slot.first == nil {
		slot.first = e
	}
	return nil
}

// addSparkplug indexes s by its Sparkplug address, which must be well
// formed and its own at its site.
func (r *Registry) addSparkplug(s *Sensor) error {
	dev, metric, ok := SplitSparkplug(s.Sparkplug)
	if !ok {
		return fmt.Errorf("sensor %s/%s: bad Sparkplug address %q (want {device_id}/{metric} or /{metric})", s.Site, s.ID, s.Sparkplug)
	}
	a := spbAddr{s.Site, dev, metric}
	if other, dup := r.spb[a]; dup {
		return fmt.Errorf("sensors %s/%s and %s/%s share the Sparkplug address %q", s.Site, other.ID, s.Site, s.ID, s.Sparkplug)
	}
	if r.spb == nil {
		r.spb = map[spbAddr]*Sensor{}
	}
	r.spb[a] = s
	return nil
}

// kindUnits holds one copy of a kind per other unit, shared by the
// sensors reporting in it.
type kindUnits map[kindUnit]*Kind

type kindUnit struct {
	kind KindID
	unit string
}

// of is kind k in the unit sensor s reports in.
func (u kindUnits) of(k *Kind, s *Sensor) (*Kind, error) {
	if ku, ok := u[kindUnit{k.ID, s.Unit}]; ok {
		return ku, nil
	}
	ku, ok := k.InUnit(s.Unit)
	if !ok {
		return nil, fmt.Errorf("sensor %s/%s: kind %s reports in %s, not %q",
			s.Site, s.ID, s.Kind, strings.Join(k.UnitNames(), " or "), s.Unit)
	}
	u[kindUnit{k.ID, s.Unit}] = ku
	return ku, nil
}

// Catalog is the catalog the registry was checked against.
func (r *Registry) Catalog() *Catalog { return r.catalog }

// Lookup finds a sensor. Callers on the hot path may pass strings built
// from byte slices with string(b): the compiler does not allocate for a
// map index expression.
func (r *Registry) Lookup(site, sensor string) (*Sensor, bool) {
	s, ok := r.sensors[site][sensor]
	return s, ok
}

// LookupSparkplug finds the sensor registered at the Sparkplug address
// of device (empty for the edge node's own metrics) and metric at site.
func (r *Registry) LookupSparkplug(site, device, metric string) (*Sensor, bool) {
	s, ok := r.spb[spbAddr{site, device, metric}]
	return s, ok
}

// HasGateway reports whether some sensor of site is registered behind
// gateway.
func (r *Registry) HasGateway(site, gateway string) bool { return r.gws[[2]string{site, gateway}] }

// Site finds a site.
func (r *Registry) Site(id string) (*Site, bool) {
	e, ok := r.sites[id]
	if !ok {
		return nil, false
	}
	return &e.site, true
}

// SiteRef finds a site with its index and first sensor.
func (r *Registry) SiteRef(id string) (SiteRef, bool) {
	e, ok := r.sites[id]
	if !ok {
		return SiteRef{}, false
	}
	return SiteRef{Site: &e.site, Index: e.index, First: e.first}, true
}

// NumSites is the number of sites, one more than the largest
// SiteRef.Index.
func (r *Registry) NumSites() int { return len(r.sites) }

// Sites lists the sites sorted by id.
func (r *Registry) Sites() []*Site {
	out := make([]*Site, 0, len(r.sites))
	for _, e := range r.sites {
		out = append(out, &e.site)
	}
	slices.SortFunc(out, func(a, b *Site) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Sensors lists every sensor in the order it was registered.
func (r *Registry) Sensors() []*Sensor { return r.order }

// Len is the number of sensors.
func (r *Registry) Len() int { return len(r.order) }
