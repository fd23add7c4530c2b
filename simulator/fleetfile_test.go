package simulator

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskmon/riskmon/sensors"
)

var update = flag.Bool("update", false, "rewrite the golden .err files of testdata/fleets")

// TestFleetFileErrors reads every testdata/fleets/*.bad.yaml and compares
// the error with its golden .err file (go test -run TestFleetFileErrors
// -update rewrites them).
func TestFleetFileErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/fleets/*.bad.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad fleet files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := LoadFleet(f)
			if err == nil {
				t.Fatal("no error")
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".bad.yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
			if !strings.HasPrefix(got, f+":") {
				t.Errorf("error does not start with file:line: %s", got)
			}
		})
	}
}

func TestFleetFile(t *testing.T) {
	f, err := LoadFleet("fleets/zhejiang-coast.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := f.Registry(sensors.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	if got := len(reg.Sites()); got != 20 {
		t.Errorf("%d sites, want 6+3+4+5+2 = 20", got)
	}
	perSector := map[sensors.Sector]int{}
	for _, s := range f.Sites {
		perSector[s.Sector]++
	}
	if perSector[sensors.SectorHazchem] != 9 || perSector[sensors.SectorUrbanGas] != 5 {
		t.Errorf("sites per sector %v", perSector)
	}
	names := map[string]string{}
	for _, s := range f.Sites {
		names[s.ID] = s.Name
	}
	for id, want := range map[string]string{
		"hz-06":    "Tank farm 06, Zhejiang, Ningbo Zhenhai",
		"zs-hz-01": "Zhoushan tank farm 01",
		"gas-05":   "Gas district 05, Zhejiang, Hangzhou",
	} {
		if names[id] != want {
			t.Errorf("site %s named %q, want %q", id, names[id], want)
		}
	}
	// The template's sensor ids, so demo-fleet scenarios play here.
	if _, ok := reg.Lookup("zs-hz-03", "GT-201"); !ok {
		t.Error("zs-hz-03 has no GT-201")
	}
	// Every site within its group's radius of the group's centre.
	for id, c := range map[string][3]float64{"hz-": {29.95, 121.71, 8}, "pipe-": {29.92, 121.25, 60}, "gas-": {30.27, 120.15, 15}} {
		n := 0
		for site, p := range f.Places {
			if !strings.HasPrefix(site, id) {
				continue
			}
			n++
			dy := (p.Lat - c[0]) * 111.32
			dx := (p.Lon - c[1]) * 111.32 * math.Cos(c[0]*math.Pi/180)
			if d := math.Hypot(dx, dy); !p.HasCoordinates || d > c[2]*1.01 {
				t.Errorf("%s at %g,%g: %.1f km from the centre, want within %g", site, p.Lat, p.Lon, d, c[2])
			}
		}
		if n == 0 {
			t.Errorf("no sites %s*", id)
		}
	}
	if f.FormatOf("gas-01", "gw2") != FormatSparkplug || f.FormatOf("gas-02", "gw1") != FormatJSON {
		t.Error("formats not applied")
	}
	if m := f.Models["tank_temperature"]; m.Diurnal.Amplitude != 4 || m.Noise != KindModel(mustKind(t, "tank_temperature")).Noise {
		t.Errorf("tank_temperature model %+v, want the default with a 4 °C cycle", m)
	}
}

func TestSizedFleet(t *testing.T) {
	tests := []struct {
		sites, sensors int
		wantSites      int
		wantSensors    int
		wantErr        bool
	}{
		{sites: 7, wantSites: 7, wantSensors: 10 + 10 + 7 + 5 + 8 + 10 + 10},
		{sensors: 30, wantSites: 4, wantSensors: 30},
		{sites: 3, sensors: 10, wantSites: 3, wantSensors: 10},
		{sites: 2, sensors: 1000, wantSites: 2, wantSensors: 1000},
		{sites: 1000, sensors: 20000, wantSites: 1000, wantSensors: 20000},
		{wantErr: true},
		{sites: 5, sensors: 3, wantErr: true},
		{sites: -1, wantErr: true},
		// Eight sensors a site on average: more sites than allowed.
		{sensors: MaxFleetSensors, wantErr: true},
	}
	for _, tt := range tests {
		f, err := SizedFleet(tt.sites, tt.sensors)
		if (err != nil) != tt.wantErr {
			t.Errorf("SizedFleet(%d, %d): error %v, want error %v", tt.sites, tt.sensors, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		reg, err := f.Registry(sensors.DefaultCatalog())
		if err != nil {
			t.Errorf("SizedFleet(%d, %d): %v", tt.sites, tt.sensors, err)
			continue
		}
		if len(reg.Sites()) != tt.wantSites || reg.Len() != tt.wantSensors {
			t.Errorf("SizedFleet(%d, %d): %d sites, %d sensors; want %d, %d", tt.sites, tt.sensors, len(reg.Sites()), reg.Len(), tt.wantSites, tt.wantSensors)
		}
		for _, g := range f.Gateways() {
			if len(g.Sensors) > syntheticGatewaySize {
				t.Errorf("SizedFleet(%d, %d): gateway %s/%s has %d sensors", tt.sites, tt.sensors, g.Site, g.ID, len(g.Sensors))
			}
		}
	}
	// A site with more sensors than its template keeps the template's
	// ids and adds gateways.
	big, _ := SizedFleet(2, 100)
	reg, _ := big.Registry(sensors.DefaultCatalog())
	if s, ok := reg.Lookup("hz-01", "GT-201"); !ok || s.Gateway != "gw2" {
		t.Errorf("hz-01 with 50 sensors: GT-201 %+v", s)
	}
	if s, ok := reg.Lookup("hz-01", "LT-301"); !ok || s.Kind != "tank_level" {
		t.Errorf("hz-01 with 50 sensors: LT-301 %+v, want the first extra sensor", s)
	}
	// Whole template sites are the demo fleet's.
	f, _ := SizedFleet(5, 0)
	demo := DemoFleet(1)
	if len(f.Sensors) != len(demo.Sensors) {
		t.Fatalf("%d sensors, demo has %d", len(f.Sensors), len(demo.Sensors))
	}
	for i := range f.Sensors {
		if f.Sensors[i].ID != demo.Sensors[i].ID || f.Sensors[i].Site != demo.Sensors[i].Site {
			t.Errorf("sensor %d: %s/%s, demo has %s/%s", i, f.Sensors[i].Site, f.Sensors[i].ID, demo.Sensors[i].Site, demo.Sensors[i].ID)
		}
	}
}

// TestScenarioFleetOverride: a scenario's incidents are checked against
// the fleet that replaces its own.
func TestScenarioFleetOverride(t *testing.T) {
	big, _ := SizedFleet(50, 0)
	sc, err := LoadScenarioWith("scenarios/gas-leak.yaml", ScenarioOptions{Fleet: &big})
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Fleet.Sites) != 50 {
		t.Errorf("%d sites, want 50", len(sc.Fleet.Sites))
	}
	small, _ := SizedFleet(0, 3)
	_, err = LoadScenarioWith("scenarios/gas-leak.yaml", ScenarioOptions{Fleet: &small})
	if err == nil || !strings.Contains(err.Error(), "no sensor hz-01/GT-201") {
		t.Errorf("err = %v, want one about hz-01/GT-201", err)
	}
}

// TestFleetModelsMerge: a model entry replaces only the fields it gives.
func TestFleetModelsMerge(t *testing.T) {
	f, err := ParseFleet("m.yaml", strings.NewReader("models:\n  tank_temperature:\n    diurnal: {amplitude: 5}\n  ch4:\n    typical: 0.3\n"))
	if err != nil {
		t.Fatal(err)
	}
	def := KindModel(mustKind(t, "tank_temperature"))
	got := f.Models["tank_temperature"]
	if got.Diurnal.Amplitude != 5 || got.Diurnal.Peak != def.Diurnal.Peak || got.Noise != def.Noise || got.Decimals != def.Decimals {
		t.Errorf("tank_temperature %+v, want the default %+v with amplitude 5", got, def)
	}
	if ch4 := f.Models["ch4"]; !ch4.HasTypical || ch4.Typical != 0.3 || ch4.Noise != KindModel(mustKind(t, "ch4")).Noise {
		t.Errorf("ch4 %+v, want typical 0.3 and the default noise", ch4)
	}
}
