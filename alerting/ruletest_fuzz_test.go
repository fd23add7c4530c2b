package alerting

import (
	"bytes"
	"testing"

	"github.com/riskmon/riskmon/sensors"
)

// FuzzLoadRuleTests: any file is loaded or refused with an error, never a
// panic; a file that loads can be run.
func FuzzLoadRuleTests(f *testing.F) {
	f.Add([]byte("tests:\n  - name: leak\n    interval: 10s\n    sensor: {site: s, id: GT-1, kind: combustible_gas}\n    series: \"0+5x10\"\n    expect:\n      - {at: 50s, rule: combustible_gas_high, type: fired, level: 2}\n"))
	f.Add([]byte("tests: []\n"))
	f.Add([]byte("tests: [{series: \"1x-3\"}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = RunRuleTests("fuzz.yaml", data, sensors.DefaultCatalog(), new(bytes.Buffer))
	})
}

// FuzzParseSeries: the compact series notation never panics and never
// expands past its limit.
func FuzzParseSeries(f *testing.F) {
	for _, s := range []string{"1 2 3", "0+5x10", "10-1x5 _ 3x2", "1e308+1e308x3", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseSeries(s)
	})
}
