package rulefile

import (
	"testing"

	"github.com/riskmon/riskmon/sensors"
)

// TestLayer names the most specific layer that decided each rule of a
// sensor in the example rule file, and none for rules it leaves alone.
func TestLayer(t *testing.T) {
	reg, err := sensors.LoadFile(sensors.DefaultCatalog(), "../../deploy/examples/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const file = "../../deploy/examples/rules.yaml"
	set, err := LoadFiles(reg.Catalog(), []string{file})
	if err != nil {
		t.Fatal(err)
	}
	ch4, _ := reg.Lookup("coal-01", "CH4-102")
	co, _ := reg.Lookup("hz-01", "GT-201")
	tests := []struct {
		sn   *sensors.Sensor
		rule string
		want string
	}{
		{ch4, "forecast", file + ":30 (sensor coal-01/CH4-102)"},
		{ch4, "threshold", file + ":14 (kind ch4)"},
		{ch4, "stale", file + ":8 (defaults)"},
		{ch4, "rate", ""},
		{co, "threshold", ""},
		{co, "no such rule", ""},
	}
	for _, tt := range tests {
		if got := set.Layer(tt.sn, tt.rule); got != tt.want {
			t.Errorf("%s/%s %s: %q, want %q", tt.sn.Site, tt.sn.ID, tt.rule, got, tt.want)
		}
	}
}
