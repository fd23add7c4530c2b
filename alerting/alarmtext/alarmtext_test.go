package alarmtext

import (
	"regexp"
	"testing"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

func kindSetpoints(t *testing.T, kind sensors.KindID) []sensors.Setpoint {
	t.Helper()
	k, ok := sensors.DefaultCatalog().Kind(kind)
	if !ok {
		t.Fatalf("no kind %s", kind)
	}
	return k.Resolve(k.Setpoints)
}

// TestLabel: the four-colour level and the instrument alarm stage are
// written apart, and the stage numbers follow GB/T 50493-2019: the 25
// %LEL setpoint is 一级报警, the 50 %LEL one 二级报警.
func TestLabel(t *testing.T) {
	tests := []struct {
		name         string
		kind         sensors.KindID
		rule, unit   string
		typ          alerting.EventType
		level, prev  sensors.Level
		wantZH, want string
	}{
		{"gas first setpoint", "combustible_gas", "combustible_gas_high", "%LEL", alerting.EventFired, sensors.LevelOrange, 0,
			"橙色 · 一级报警 (≥25 %LEL)", "Orange · stage 1 (≥25 %LEL)"},
		{"gas second setpoint", "combustible_gas", "combustible_gas_high", "%LEL", alerting.EventEscalated, sensors.LevelRed, sensors.LevelOrange,
			"红色 · 二级报警 (≥50 %LEL)", "Red · stage 2 (≥50 %LEL)"},
		{"resolved keeps its stage", "combustible_gas", "combustible_gas_high", "%LEL", alerting.EventResolved, 0, sensors.LevelRed,
			"红色 · 二级报警 (≥50 %LEL)", "Red · stage 2 (≥50 %LEL)"},
		{"coal methane power cut", "ch4", "ch4_high", "%CH4", alerting.EventFired, sensors.LevelRed, 0,
			"红色 · 断电 (≥1.5 %CH₄)", "Red · power cut (≥1.5 %CH₄)"},
		{"oxygen deficiency, one setpoint", "oxygen", "oxygen_low", "%VOL", alerting.EventFired, sensors.LevelOrange, 0,
			"橙色 · 报警 (≤19.5 %VOL)", "Orange · alarm (≤19.5 %VOL)"},
		{"early warning", "combustible_gas", "combustible_gas_forecast", "%LEL", alerting.EventFired, sensors.LevelYellow, 0,
			"黄色 · 预警", "Yellow · early warning"},
		{"gateway offline has no stage", "", alerting.RuleGatewayOffline, "", alerting.EventFired, sensors.LevelOrange, 0,
			"橙色", "Orange"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sps []sensors.Setpoint
			if tc.kind != "" {
				sps = kindSetpoints(t, tc.kind)
			}
			ev := alerting.Event{Rule: tc.rule, Kind: tc.kind, Unit: tc.unit, Type: tc.typ, Level: tc.level, PrevLevel: tc.prev}
			if got := Label(ev, sps, Chinese); got != tc.wantZH {
				t.Errorf("zh %q, want %q", got, tc.wantZH)
			}
			if got := Label(ev, sps, English); got != tc.want {
				t.Errorf("en %q, want %q", got, tc.want)
			}
		})
	}
}

// latin finds words in Latin letters: a Chinese text may hold units,
// numbers and ids, but no English words of two letters or more other
// than units.
var latin = regexp.MustCompile(`[A-Za-z]{2,}`)

// TestChineseHasNoEnglish: titles and messages in Chinese carry no
// English words for every rule family, and units are written as
// operators write them.
func TestChineseHasNoEnglish(t *testing.T) {
	rules := []string{"combustible_gas_high", "oxygen_low", "h2s_rate", "co_trend", "line_pressure_forecast", "h2s_twa", "co_stel",
		alerting.RuleGatewayOffline, alerting.RuleDataLoss, alerting.RuleStorageBacklog, alerting.RuleClockSkew,
		alerting.RuleSensorStuck, alerting.RuleSensorJump, alerting.RuleSensorStale, alerting.RuleSensorDisagreement, alerting.RuleGroupVote}
	for _, rule := range rules {
		for _, typ := range []alerting.EventType{alerting.EventFired, alerting.EventEscalated, alerting.EventDeescalated, alerting.EventResolved} {
			ev := alerting.Event{Rule: rule, Kind: "tank_temperature", Unit: "degC", Sensor: "GW-1", Type: typ, Level: sensors.LevelOrange,
				Value: 61.5, Setpoint: 60, Message: "tank_temperature GW-1 at hz-01: 61.5 degC at or above 60 degC"}
			for what, s := range map[string]string{"title": Title(rule, ev.Kind, nil, Chinese), "message": Message(ev, Chinese)} {
				if w := latin.FindAllString(s, -1); len(w) > 0 && !(len(w) == 1 && w[0] == "GW") {
					t.Errorf("%s %s %s: %q holds English %v", rule, typ, what, s, w)
				}
			}
		}
	}
	if got := Message(alerting.Event{Rule: "tank_temperature_high", Type: alerting.EventFired, Unit: "degC", Value: 61.5, Setpoint: 60}, Chinese); got != "读数 61.5℃ ≥ 设定值 60℃" {
		t.Errorf("temperature message %q", got)
	}
	if got := Title("combustible_gas_high", "combustible_gas", nil, English); got != "Combustible gas, point detector: high" {
		t.Errorf("English title %q", got)
	}
}

// TestGuidanceFor: monitoring rules have their own guidance, a kind's
// alarms the kind's, and an early warning starts with checking.
func TestGuidanceFor(t *testing.T) {
	gas, _ := sensors.DefaultGuidance("combustible_gas")
	if g := GuidanceFor(alerting.Event{Rule: "combustible_gas_high", Kind: "combustible_gas"}, nil); g != gas {
		t.Errorf("threshold guidance %+v", g)
	}
	if g := GuidanceFor(alerting.Event{Rule: alerting.RuleGatewayOffline}, nil); g.Procedure.ZH == "" || g.Procedure.ZH == gas.Procedure.ZH {
		t.Errorf("gateway guidance %+v", g)
	}
	if g := GuidanceFor(alerting.Event{Rule: "combustible_gas_forecast", Kind: "combustible_gas"}, nil); g.Procedure.ZH[:len("预警")] != "预警" {
		t.Errorf("early warning guidance %q", g.Procedure.ZH)
	}
}

func TestRuleTitle(t *testing.T) {
	for rule, want := range map[string]string{
		"combustible_gas_high": "可燃气体高限报警", "ch4_forecast": "甲烷预计将达报警值（预警）",
		alerting.RuleGatewayOffline: "网关离线", "tank_farm_leak_vote": "tank_farm_leak_vote",
	} {
		if got := RuleTitle(rule, Chinese); got != want {
			t.Errorf("RuleTitle(%q) = %q, want %q", rule, got, want)
		}
	}
}
