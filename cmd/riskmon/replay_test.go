package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestReplayCSVCommand backtests the example rule file on a CSV of a
// face where both methane heads reach 1.6 % while the air speed drops:
// the group vote and the composite rule of the rule file must show.
func TestReplayCSVCommand(t *testing.T) {
	args := []string{"replay", "--config", "../../internal/app/configcheck/testdata/good.yaml", "--csv", "testdata/replay/face.csv", "--site", "coal-01"}
	out, err := run(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"group_vote           coal-01  face-3102   1-red     2026-11-30T08:01:40Z  2026-11-30T08:03:20Z",
		"gas_no_air           coal-01  gas_no_air  2-orange  2026-11-30T08:02:10Z",
		"ch4_high             coal-01  CH4-101     1-red",
		"0 still open at the end; 120 readings from 2026-11-30T08:00:00Z to 2026-11-30T08:06:30Z",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, err = run(t, append(args, "--json", "--to", "2026-11-30T08:02:00Z")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var res struct {
		Alerts []struct {
			Rule       string `json:"rule"`
			ResolvedAt string `json:"resolved_at"`
		} `json:"alerts"`
		Readings int    `json:"readings"`
		Summary  string `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// Up to 08:02 the composite rule is still pending (30 s on-delay
	// from 08:01:40) and the vote is open.
	if res.Readings != 36 {
		t.Errorf("%d readings before 08:02, want 36", res.Readings)
	}
	for _, a := range res.Alerts {
		if a.Rule == "gas_no_air" {
			t.Errorf("gas_no_air fired before its on-delay passed")
		}
		if a.Rule == "group_vote" && a.ResolvedAt != "" {
			t.Errorf("group_vote resolved at %s, after --to", a.ResolvedAt)
		}
	}
}

// TestReplayCandidateRules: --rules replaces the configuration's rule
// files, so a change is tried before it is deployed: without the
// sample's group and composite rule they are gone from the backtest.
func TestReplayCandidateRules(t *testing.T) {
	out, err := run(t, "replay", "--config", "../../internal/app/configcheck/testdata/good.yaml", "--csv", "testdata/replay/face.csv",
		"--rules", "../../internal/app/configcheck/testdata/rules/fine.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(out, "group_vote") || strings.Contains(out, "gas_no_air") || !strings.Contains(out, "ch4_high") {
		t.Errorf("replay with only fine.yaml:\n%s", out)
	}
}

func TestReplayRefusesBadSelection(t *testing.T) {
	for _, args := range [][]string{
		{"--site", "coal-99"},
		{"--sensor", "CH4-999"},
		{"--from", "yesterday"},
		{"--from", "2026-11-30T09:00:00Z", "--to", "2026-11-30T08:00:00Z"},
		{}, // InfluxDB needs a range
	} {
		all := append([]string{"replay", "--config", "../../internal/app/configcheck/testdata/good.yaml"}, args...)
		if out, err := run(t, all...); err == nil {
			t.Errorf("replay %v: no error\n%s", args, out)
		}
	}
}
