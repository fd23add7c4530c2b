package ingest

import (
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// TestValidateUnits: a reading is kept in the unit its sensor reports in
// and checked against the kind's range in that unit: a CO detector in
// ppm up to 858.3 ppm (1000 mg/m3), its mg/m3 twin up to 1000 mg/m3.
func TestValidateUnits(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "CO-PPM", Site: "hz-01", Kind: "co", Unit: "ppm"}, {ID: "CO-MG", Site: "hz-01", Kind: "co"}})
	if err != nil {
		t.Fatal(err)
	}
	site, _ := reg.Site("hz-01")
	now := time.UnixMilli(1764345600000)
	lim := DefaultLimits()
	tests := []struct {
		sensor string
		value  float64
		reason Reason
		detail string
	}{
		{"CO-PPM", 17.2, "", ""},
		{"CO-PPM", 858, "", ""},
		{"CO-PPM", 900, ReasonOutOfRange, "value 900 ppm is outside the physical range 0..858.265 of co"},
		{"CO-MG", 900, "", ""},
		{"CO-MG", 1001, ReasonOutOfRange, "value 1001 mg/m3 is outside the physical range 0..1000 of co"},
	}
	for _, tt := range tests {
		r, _, reason, detail := validate(reg, site, nil, &Item{Sensor: tt.sensor, Value: tt.value, Time: now}, now, &lim)
		if reason != tt.reason || detail != tt.detail {
			t.Errorf("%s %g: %q %q, want %q %q", tt.sensor, tt.value, reason, detail, tt.reason, tt.detail)
		}
		if reason == "" && r.Value != tt.value {
			t.Errorf("%s %g: stored as %g, want it as reported", tt.sensor, tt.value, r.Value)
		}
	}
}
