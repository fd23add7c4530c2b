package ingest

import (
	"strings"
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
		r, _, reason, detail := validate(reg, site, nil, &Item{Sensor: tt.sensor, Value: tt.value, Time: now}, now, 0, &lim)
		if reason != tt.reason || detail != tt.detail {
			t.Errorf("%s %g: %q %q, want %q %q", tt.sensor, tt.value, reason, detail, tt.reason, tt.detail)
		}
		if reason == "" && r.Value != tt.value {
			t.Errorf("%s %g: stored as %g, want it as reported", tt.sensor, tt.value, r.Value)
		}
	}
}

// TestValidateTimeLimits: the device time is checked against the receive
// time on both sides, at the limits themselves and at the far ends where
// time.Time.Sub saturates, the way Process measures it.
func TestValidateTimeLimits(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "GT-1", Site: "hz-01", Kind: "combustible_gas"}})
	if err != nil {
		t.Fatal(err)
	}
	site, _ := reg.Site("hz-01")
	now := time.UnixMilli(1764345600000)
	lim := DefaultLimits()
	tests := []struct {
		name   string
		at     time.Time
		reason Reason
	}{
		{"on time", now, ""},
		{"at max_future", now.Add(lim.MaxFuture), ""},
		{"past max_future", now.Add(lim.MaxFuture + time.Millisecond), ReasonFuture},
		{"at max_past", now.Add(-lim.MaxPast), ""},
		{"past max_past", now.Add(-lim.MaxPast - time.Millisecond), ReasonTooOld},
		{"year 1", time.Time{}, ReasonTooOld},
		{"year 9999", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), ReasonFuture},
		{"epoch", time.UnixMilli(0), ReasonTooOld},
		{"most negative milliseconds", time.UnixMilli(-1 << 63), ReasonTooOld},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := &Item{Sensor: "GT-1", Value: 1, Time: tt.at}
			_, _, reason, detail := validate(reg, site, nil, it, now, it.Time.Sub(now), &lim)
			if reason != tt.reason {
				t.Fatalf("reason %q (%s), want %q", reason, detail, tt.reason)
			}
			if reason == ReasonTooOld && (strings.Contains(detail, "is -") || !strings.Contains(detail, "before receive time")) {
				t.Errorf("detail %q does not say how far behind", detail)
			}
		})
	}
}
