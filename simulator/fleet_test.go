package simulator

import (
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/riskmon/riskmon/sensors"
)

var siteID = regexp.MustCompile(`^(hz|coal|tail|pipe|gas)-\d{2,}$`)

// checkFleet holds for every fleet the simulator builds.
func checkFleet(t *testing.T, f Fleet) *sensors.Registry {
	t.Helper()
	cat := sensors.DefaultCatalog()
	reg, err := f.Registry(cat)
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	if reg.Len() != len(f.Sensors) {
		t.Fatalf("registry has %d sensors, fleet %d", reg.Len(), len(f.Sensors))
	}
	for _, site := range f.Sites {
		if !siteID.MatchString(site.ID) {
			t.Errorf("site id %q does not look like hz-01", site.ID)
		}
	}
	for _, s := range reg.Sensors() {
		site, _ := reg.Site(s.Site)
		k := s.KindInfo()
		if !slices.Contains(k.Sectors, site.Sector) {
			t.Errorf("%s/%s: kind %s is not used in sector %s", s.Site, s.ID, k.ID, site.Sector)
		}
		// Kinds without national defaults are design-specific: the
		// sensor must bring its own setpoints, with a source.
		if len(k.Setpoints) == 0 && k.ID != "dust" && len(s.Setpoints) == 0 {
			t.Errorf("%s/%s: design-specific kind %s has no setpoints", s.Site, s.ID, k.ID)
		}
		for _, sp := range s.Setpoints {
			if sp.Source == "" {
				t.Errorf("%s/%s: setpoint %+v has no source", s.Site, s.ID, sp)
			}
		}
		if _, err := f.Signal(s, 1); err != nil {
			t.Errorf("signal: %v", err)
		}
	}
	for key := range f.Nominal {
		found := false
		for _, s := range f.Sensors {
			found = found || s.Site+"/"+s.ID == key
		}
		if !found {
			t.Errorf("nominal value for unknown sensor %s", key)
		}
	}
	return reg
}

func TestDemoFleet(t *testing.T) {
	// What each template must monitor, from domain.md (a).
	wantKinds := map[sensors.Sector][]sensors.KindID{
		sensors.SectorHazchem:  {"tank_level", "tank_temperature", "pressure", "combustible_gas", "h2s"},
		sensors.SectorCoal:     {"ch4", "co_mine", "o2_mine", "wind_speed", "mine_temperature", "dust"},
		sensors.SectorNonCoal:  {"pond_water_level", "dry_beach_length", "phreatic_depth", "dam_displacement", "rainfall"},
		sensors.SectorPipeline: {"pressure", "flow", "combustible_gas"},
		sensors.SectorUrbanGas: {"line_pressure", "tunnel_gas", "manhole_tilt", "combustible_gas"},
	}
	for _, perSector := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("sites=%d", perSector), func(t *testing.T) {
			f := DemoFleet(perSector)
			reg := checkFleet(t, f)
			n := max(perSector, 1)
			if got, want := len(f.Sites), n*len(sensors.Sectors()); got != want {
				t.Fatalf("%d sites, want %d", got, want)
			}
			kinds := map[string][]sensors.KindID{}
			gateways := map[string]int{}
			for _, s := range reg.Sensors() {
				kinds[s.Site] = append(kinds[s.Site], s.Kind)
			}
			for _, gw := range f.Gateways() {
				gateways[gw.Site]++
			}
			bySector := map[sensors.Sector]int{}
			for _, site := range f.Sites {
				bySector[site.Sector]++
				for _, k := range wantKinds[site.Sector] {
					if !slices.Contains(kinds[site.ID], k) {
						t.Errorf("site %s (%s) has no %s sensor", site.ID, site.Sector, k)
					}
				}
				if g := gateways[site.ID]; g < 1 || g > 2 {
					t.Errorf("site %s has %d gateways, want 1 or 2", site.ID, g)
				}
			}
			for _, sec := range sensors.Sectors() {
				if bySector[sec] != n {
					t.Errorf("sector %s has %d sites, want %d", sec, bySector[sec], n)
				}
			}
			if _, ok := reg.Lookup("hz-01", "GT-201"); !ok {
				t.Errorf("hz-01/GT-201 missing: sensor ids should be tag-gateway-number")
			}
		})
	}
}

func TestSyntheticFleet(t *testing.T) {
	tests := []struct {
		sites, perSite int
		wantGateways   int
	}{
		{1, 1, 1},
		{5, 20, 5},
		{7, 45, 21}, // 45 sensors make gateways of 20, 20 and 5
		{12, 100, 60},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dx%d", tt.sites, tt.perSite), func(t *testing.T) {
			f := SyntheticFleet(tt.sites, tt.perSite)
			checkFleet(t, f)
			if len(f.Sites) != tt.sites || len(f.Sensors) != tt.sites*tt.perSite {
				t.Fatalf("%d sites, %d sensors; want %d, %d", len(f.Sites), len(f.Sensors), tt.sites, tt.sites*tt.perSite)
			}
			gws := f.Gateways()
			if len(gws) != tt.wantGateways {
				t.Errorf("%d gateways, want %d", len(gws), tt.wantGateways)
			}
			for _, gw := range gws {
				if len(gw.Sensors) > syntheticGatewaySize {
					t.Errorf("gateway %s/%s has %d sensors", gw.Site, gw.ID, len(gw.Sensors))
				}
			}
		})
	}
}

func TestGatewayTopics(t *testing.T) {
	gw := Gateway{Site: "hz-01", ID: "gw1"}
	if got := gw.ReadingsTopic(); got != "riskmon/v1/hz-01/gw1/readings" {
		t.Errorf("readings topic %q", got)
	}
	if got := gw.StatusTopic(); got != "riskmon/v1/hz-01/gw1/status" {
		t.Errorf("status topic %q", got)
	}
}

func TestGatewayFleet(t *testing.T) {
	f := GatewayFleet(7, 45)
	gws := f.Gateways()
	if len(gws) != 7 {
		t.Fatalf("%d gateways, want 7", len(gws))
	}
	for _, g := range gws {
		if len(g.Sensors) != 45 {
			t.Errorf("%s/%s has %d sensors, want 45", g.Site, g.ID, len(g.Sensors))
		}
	}
	if _, err := f.Registry(sensors.DefaultCatalog()); err != nil {
		t.Fatal(err)
	}
}
