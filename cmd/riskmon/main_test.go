package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRoot()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestCheckConfig(t *testing.T) {
	out, err := run(t, "check-config", "--config", "../../riskmon.example.yaml")
	if err != nil {
		t.Fatalf("check-config on the example: %v\n%s", err, out)
	}
	if !strings.Contains(out, "ok (5 sites, 40 sensors") {
		t.Fatalf("output: %s", out)
	}
	if _, err := run(t, "check-config", "--config", "testdata/missing.yaml"); err == nil {
		t.Fatal("check-config accepted a missing file")
	}
}

func TestKindsListsSources(t *testing.T) {
	out, err := run(t, "kinds")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"combustible_gas", "GB/T 50493-2019", "ch4", "restore 1", "no national default",
		// The coal-mine oxygen alarm at 20 % is kept on purpose, and says so.
		"alarm below 20 %VOL, not GB/T 50493's 19.5", "低于 20%VOL 报警",
		// Levels the standards do not give say why there is none.
		"one level only: the coal mine safety regulations", "no second level",
		// Units other than the kind's own.
		`also in % (0..100); registry: unit: "%"`, "also in kPa (0..10000)", "also in K (223.15..573.15)",
		// Toxic gases in ppm, converted at the GBZ reference conditions,
		// and oxygen written %.
		`also in ppm (0..858.265); registry: unit: "ppm"`, "mg/m3 = ppm × 28.01 / 24.04, at 20 °C and 101.3 kPa",
		"mg/m³ = ppm × 70.9 / 24.04，按 20 ℃、101.3 kPa", `also written %, the same unit; registry: unit: "%"  也可写作 %`,
		"default setpoints in ppm: 17.1653, 34.3306  默认设定值折合 ppm：17.1653、34.3306", "default setpoints in K: 299.15 ",
		// The reporting interval, which decides when sensor_stale fires.
		"report every 5s (stale after 15s without a reading)", "report every 10m0s (stale after 30m0s", "每 5s 上报一次"} {
		if !strings.Contains(out, want) {
			t.Errorf("kinds output lacks %q", want)
		}
	}
}

func TestRulesTest(t *testing.T) {
	out, err := run(t, "rules", "test", "../../alerting/testdata/ruletests/default_pack.yaml")
	if err != nil || !strings.Contains(out, "all rule tests passed") {
		t.Fatalf("rules test on the default pack: %v\n%s", err, out)
	}
}
