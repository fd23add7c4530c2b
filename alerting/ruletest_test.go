package alerting

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/riskmon/riskmon/sensors"
)

func TestParseSeries(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		in   string
		want []float64
		err  bool
	}{
		{"1 2 3", []float64{1, 2, 3}, false},
		{"0+10x3", []float64{0, 10, 20, 30}, false},
		{"5-1x2", []float64{5, 4, 3}, false},
		{"7x2", []float64{7, 7, 7}, false},
		{"1 _x1 2", []float64{1, nan, nan, 2}, false},
		{"-1.5+0.5x1", []float64{-1.5, -1}, false},
		{"", nil, true},
		{"1xq", nil, true},
		{"abc", nil, true},
		{"1x99999999999", nil, true},
		{"1x600000 2x600000", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseSeries(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseSeries(%q) error = %v", tt.in, err)
			continue
		}
		eq := slices.EqualFunc(got, tt.want, func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) })
		if !eq {
			t.Errorf("ParseSeries(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestDefaultPackRuleTests runs the shipped rule tests of the default pack.
func TestDefaultPackRuleTests(t *testing.T) {
	files, _ := filepath.Glob("testdata/ruletests/*.yaml")
	if len(files) == 0 {
		t.Fatal("no rule test files")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		ok, err := RunRuleTests(f, data, sensors.DefaultCatalog(), &out)
		if err != nil || !ok {
			t.Errorf("%v\n%s", err, out.String())
		}
	}
}

func TestRuleTestReportsDifferences(t *testing.T) {
	data := []byte(`tests:
  - name: expects the wrong level
    kind: combustible_gas
    interval: 5s
    no_forecast: true
    series: 0 30 0
    expect:
      - {at: 5s, rule: combustible_gas_high, type: fired, level: 1}
      - {at: 10s, rule: combustible_gas_high, type: resolved, level: 0}
`)
	var out bytes.Buffer
	ok, err := RunRuleTests("x.yaml", data, sensors.DefaultCatalog(), &out)
	if err != nil || ok {
		t.Fatalf("ok=%v err=%v, want a failure", ok, err)
	}
	for _, want := range []string{"FAIL x.yaml: expects the wrong level", "- missing:    5s combustible_gas_high fired level 1", "+ unexpected: 5s combustible_gas_high fired level 2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := RunRuleTests("bad.yaml", []byte("tests: [{nme: x}]"), sensors.DefaultCatalog(), &out); err == nil {
		t.Error("unknown key accepted")
	}
}
