package sensors

import (
	"path/filepath"
	"strconv"
	"testing"
	"unsafe"
)

// TestRegistrySharesNames checks that sensors of a registry read from a
// file share one copy of each site id, kind, sector and gateway, while
// their values stay those of the file.
func TestRegistrySharesNames(t *testing.T) {
	var sites []Site
	var sns []Sensor
	for i := range 3 {
		site := "plant-" + strconv.Itoa(i)
		sites = append(sites, Site{ID: site, Sector: SectorHazchem})
		for j := range 4 {
			sns = append(sns, Sensor{ID: "GT-" + strconv.Itoa(j), Site: site, Kind: "combustible_gas", Gateway: "gw-" + strconv.Itoa(j%2)})
		}
	}
	built, err := NewRegistry(DefaultCatalog(), sites, sns)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := built.WriteYAMLFile(path); err != nil {
		t.Fatal(err)
	}
	reg, err := LoadFile(DefaultCatalog(), path)
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b string) bool { return a == b && unsafe.StringData(a) == unsafe.StringData(b) }
	tests := []struct {
		name string
		of   func(s *Sensor) string
	}{
		{"kind", func(s *Sensor) string { return string(s.Kind) }},
		{"gateway", func(s *Sensor) string { return s.Gateway }},
		{"sector", func(s *Sensor) string { site, _ := reg.Site(s.Site); return string(site.Sector) }},
	}
	all := reg.Sensors()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shared := map[string]string{}
			for _, s := range all {
				v := tt.of(s)
				if first, ok := shared[v]; ok && !same(first, v) {
					t.Errorf("sensor %s/%s: %s %q is a copy of its own", s.Site, s.ID, tt.name, v)
				}
				shared[v] = v
			}
		})
	}
	for _, s := range all {
		site, ok := reg.Site(s.Site)
		if !ok || !same(s.Site, site.ID) {
			t.Errorf("sensor %s/%s: its site id is not its site's", s.Site, s.ID)
		}
		j, _ := strconv.Atoi(s.ID[len("GT-"):])
		if s.Kind != "combustible_gas" || s.Gateway != "gw-"+strconv.Itoa(j%2) {
			t.Errorf("sensor %s/%s: kind %q gateway %q", s.Site, s.ID, s.Kind, s.Gateway)
		}
	}
}

// TestRegistryLaysOutInOrder checks that a registry keeps its sensors'
// entries, and their ids, side by side in registry order, whatever their
// lengths, that each keeps its own id and is found by it, and that
// changing the caller's slice afterwards changes nothing in the registry.
func TestRegistryLaysOutInOrder(t *testing.T) {
	tests := []struct {
		name string
		ids  []string
	}{
		{"one", []string{"GT-101"}},
		{"short and long", []string{"A", "LT-2201-RAW-MATERIAL-TANK-FARM-NORTH", "PT-3", "CH4-upper-corner-102"}},
		{"unicode", []string{"甲烷-1", "GT-101", "一氧化碳-工作面-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sites := []Site{{ID: "plant", Sector: SectorHazchem}}
			var sns []Sensor
			for _, id := range tt.ids {
				sns = append(sns, Sensor{ID: id, Site: "plant", Kind: "combustible_gas"})
			}
			reg, err := NewRegistry(DefaultCatalog(), sites, sns)
			if err != nil {
				t.Fatal(err)
			}
			for i := range sns {
				sns[i].ID = "changed"
			}
			all := reg.Sensors()
			if len(all) != len(tt.ids) {
				t.Fatalf("%d sensors, want %d", len(all), len(tt.ids))
			}
			for i, s := range all {
				if s.ID != tt.ids[i] || s.Index() != i {
					t.Errorf("sensor %d: id %q index %d, want %q %d", i, s.ID, s.Index(), tt.ids[i], i)
				}
				if got, ok := reg.Lookup("plant", tt.ids[i]); !ok || got != s {
					t.Errorf("Lookup(%q) = %p, %v; want %p", tt.ids[i], got, ok, s)
				}
				if i == 0 {
					continue
				}
				prev := all[i-1]
				if unsafe.StringData(s.ID) != (*byte)(unsafe.Add(unsafe.Pointer(unsafe.StringData(prev.ID)), len(prev.ID))) {
					t.Errorf("id of sensor %d does not follow the id of sensor %d", i, i-1)
				}
				if unsafe.Pointer(s) != unsafe.Add(unsafe.Pointer(prev), unsafe.Sizeof(Sensor{})) {
					t.Errorf("entry of sensor %d does not follow the entry of sensor %d", i, i-1)
				}
			}
		})
	}
}

// PlainIDs holds only when the sensor's id, its site's id and its kind
// are all ValidID, whichever way the registry was built.
func TestSensorPlainIDs(t *testing.T) {
	cat := NewCatalog(Kind{ID: "gas", Unit: "%LEL", Max: 100}, Kind{ID: "gas 2", Unit: "%LEL", Max: 100})
	tests := []struct {
		name           string
		site, id, kind string
		want           bool
	}{
		{"letters, digits and -_.", "hz-01", "GT_1.a", "gas", true},
		{"Chinese letters", "厂区一", "气体探头1", "gas", true},
		{"space in the id", "hz-01", "GT 1", "gas", false},
		{"comma in the site", "hz,01", "GT-1", "gas", false},
		{"space in the kind", "hz-01", "GT-1", "gas 2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := NewRegistry(cat, []Site{{ID: tt.site, Sector: SectorHazchem}},
				[]Sensor{{ID: tt.id, Site: tt.site, Kind: KindID(tt.kind)}})
			if err != nil {
				t.Fatal(err)
			}
			if got := reg.Sensors()[0].PlainIDs(); got != tt.want {
				t.Fatalf("PlainIDs() = %v, want %v", got, tt.want)
			}
		})
	}
}

// SiteRef numbers the sites in the order they were added and names the
// first sensor added to each, wherever the sensors of the sites lie in
// the registry's order.
func TestSiteRef(t *testing.T) {
	reg, err := NewRegistry(DefaultCatalog(),
		[]Site{{ID: "b", Sector: SectorHazchem}, {ID: "a", Sector: SectorHazchem}, {ID: "empty", Sector: SectorHazchem}},
		[]Sensor{
			{ID: "A1", Site: "a", Kind: "combustible_gas"},
			{ID: "B1", Site: "b", Kind: "combustible_gas"},
			{ID: "A2", Site: "a", Kind: "combustible_gas"},
		})
	if err != nil {
		t.Fatal(err)
	}
	if reg.NumSites() != 3 {
		t.Fatalf("NumSites() = %d, want 3", reg.NumSites())
	}
	tests := []struct {
		site  string
		index int
		first string // "" for none
	}{
		{"b", 0, "B1"},
		{"a", 1, "A1"},
		{"empty", 2, ""},
	}
	for _, tt := range tests {
		ref, ok := reg.SiteRef(tt.site)
		if !ok {
			t.Fatalf("SiteRef(%q) not found", tt.site)
		}
		if s, _ := reg.Site(tt.site); ref.Site != s || ref.Index != tt.index {
			t.Errorf("SiteRef(%q) = site %p index %d, want %p and %d", tt.site, ref.Site, ref.Index, s, tt.index)
		}
		want, _ := reg.Lookup(tt.site, tt.first)
		if ref.First != want {
			t.Errorf("SiteRef(%q).First = %v, want %v", tt.site, ref.First, want)
		}
	}
	if _, ok := reg.SiteRef("nowhere"); ok {
		t.Error("SiteRef found a site the registry does not hold")
	}
}
