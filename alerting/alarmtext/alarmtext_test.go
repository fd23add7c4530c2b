package alarmtext

import (
	"regexp"
	"strings"
	"testing"
	"unicode"

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
	if g := GuidanceFor(alerting.Event{Rule: "combustible_gas_high", Kind: "combustible_gas"}, nil, nil); g != gas {
		t.Errorf("threshold guidance %+v", g)
	}
	if g := GuidanceFor(alerting.Event{Rule: alerting.RuleGatewayOffline}, nil, nil); g.Procedure.ZH == "" || g.Procedure.ZH == gas.Procedure.ZH {
		t.Errorf("gateway guidance %+v", g)
	}
	if g := GuidanceFor(alerting.Event{Rule: "combustible_gas_forecast", Kind: "combustible_gas"}, nil, nil); g.Procedure.ZH[:len("预警")] != "预警" {
		t.Errorf("early warning guidance %q", g.Procedure.ZH)
	}
}

// TestGuidancePrecedence: a rule file's text for the rule beats the
// site's guidance, which beats the kind's default; a text the rule file
// leaves out comes from below, one given in one language only is shown in
// both, and an early-warning rule's own text gets no first step added.
func TestGuidancePrecedence(t *testing.T) {
	gas, _ := sensors.DefaultGuidance("combustible_gas")
	siteText := sensors.Text{ZH: "按本厂处置卡 HZ-07 执行", EN: "Follow card HZ-07"}
	site := &sensors.Site{ID: "hz-01", Guidance: &sensors.SiteGuidance{"combustible_gas": {Procedure: siteText}}}
	rules := map[string]sensors.Guidance{
		"combustible_gas_high":     {Procedure: sensors.Text{ZH: "关闭 XV-101", EN: "Close XV-101"}},
		"combustible_gas_forecast": {Procedure: sensors.Text{ZH: "通知班长"}, Consequence: sensors.Text{ZH: "可能泄漏", EN: "May leak"}},
	}
	high := alerting.Event{Rule: "combustible_gas_high", Kind: "combustible_gas"}
	for _, tc := range []struct {
		name  string
		ev    alerting.Event
		site  *sensors.Site
		rules map[string]sensors.Guidance
		want  sensors.Guidance
	}{
		{"kind default", high, nil, nil, gas},
		{"site over kind", high, site, nil, sensors.Guidance{Procedure: siteText, Consequence: gas.Consequence}},
		{"rule over site", high, site, rules, sensors.Guidance{Procedure: rules["combustible_gas_high"].Procedure, Consequence: gas.Consequence}},
		{"rule over kind", high, nil, rules, sensors.Guidance{Procedure: rules["combustible_gas_high"].Procedure, Consequence: gas.Consequence}},
		{"other rule of the kind keeps the site's", alerting.Event{Rule: "combustible_gas_low", Kind: "combustible_gas"}, site, rules,
			sensors.Guidance{Procedure: siteText, Consequence: gas.Consequence}},
		{"early rule's own text, one language", alerting.Event{Rule: "combustible_gas_forecast", Kind: "combustible_gas"}, site, rules,
			sensors.Guidance{Procedure: sensors.Text{ZH: "通知班长", EN: "通知班长"}, Consequence: sensors.Text{ZH: "可能泄漏", EN: "May leak"}}},
		{"monitoring rule", alerting.Event{Rule: alerting.RuleGatewayOffline}, nil,
			map[string]sensors.Guidance{alerting.RuleGatewayOffline: {Consequence: sensors.Text{ZH: "停产", EN: "Production stops"}}},
			sensors.Guidance{Procedure: GuidanceFor(alerting.Event{Rule: alerting.RuleGatewayOffline}, nil, nil).Procedure, Consequence: sensors.Text{ZH: "停产", EN: "Production stops"}}},
	} {
		if got := GuidanceFor(tc.ev, tc.site, tc.rules); got != tc.want {
			t.Errorf("%s: got %+v\nwant %+v", tc.name, got, tc.want)
		}
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

// TestMonitoringRulesInWords: the alerts riskmon raises about itself —
// the journal, the alert store, a gateway's devices — read as such in
// Chinese, title, message and what to do, with no English left in the
// Chinese.
func TestMonitoringRulesInWords(t *testing.T) {
	for _, tc := range []struct {
		rule, zhTitle, enTitle, zhMsg string
	}{
		{alerting.RuleJournalTorn, "操作记录末尾残缺（启动时发现）", "Journal tail torn (found at start)", "启动时发现 2 处操作记录末尾残缺"},
		{alerting.RuleJournalFailed, "操作记录写入失败", "Journal cannot write", "已有 2 条未写入"},
		{alerting.RuleStoreDamaged, "报警存储损坏（启动时发现）", "Alert store damaged (found at start)", "启动时发现 2 条报警存储损坏"},
		{alerting.RuleDeviceOffline, "网关下设备离线", "Device offline", "离线，其测点暂无数据"},
		{alerting.RuleGatewayMismatch, "测点经非登记网关上报", "Sensor reports through another gateway", "请修正登记表中该测点的网关"},
		{alerting.RuleClusterUnavailable, "集群失去仲裁 / 消息存储不可用", "Cluster quorum lost / JetStream unavailable", "已 2 秒无法访问集群消息存储"},
		{alerting.RuleClusterUnowned, "站点无实例负责（集群分区无租约）", "Sites without an owner (partition not leased)", "已 2 秒无实例持有租约"},
	} {
		ev := alerting.Event{Rule: tc.rule, Site: "riskmon", Sensor: "3102/7", Type: alerting.EventFired, Level: sensors.LevelYellow, Value: 2,
			Message: "journal: 2 torn tail(s) found at start"}
		if got := Title(ev.Rule, "", nil, Chinese); got != tc.zhTitle {
			t.Errorf("%s: zh title %q", tc.rule, got)
		}
		if got := Title(ev.Rule, "", nil, English); got != tc.enTitle {
			t.Errorf("%s: en title %q", tc.rule, got)
		}
		if got := RuleTitle(ev.Rule, Chinese); got != tc.zhTitle {
			t.Errorf("%s: zh rule title %q", tc.rule, got)
		}
		zh := Message(ev, Chinese)
		if !strings.Contains(zh, tc.zhMsg) || strings.ContainsFunc(zh, func(r rune) bool { return r < 128 && unicode.IsLetter(r) }) {
			t.Errorf("%s: zh message %q", tc.rule, zh)
		}
		g := GuidanceFor(ev, nil, nil)
		if g.Procedure.ZH == "" || g.Procedure.EN == "" || g.Consequence.ZH == "" || g.Consequence.EN == "" {
			t.Errorf("%s: guidance %+v", tc.rule, g)
		}
		ev.Type = alerting.EventResolved
		if zh := Message(ev, Chinese); strings.ContainsFunc(zh, func(r rune) bool { return r < 128 && unicode.IsLetter(r) }) || strings.HasPrefix(zh, "已恢复：读数") {
			t.Errorf("%s: zh resolved message %q", tc.rule, zh)
		}
	}
}

// TestEveryConditionRuleInWords: every condition alert riskmon raises has
// a title of its own in both languages and what to do, so none reaches
// the board as a "combined alarm" or without a procedure.
func TestEveryConditionRuleInWords(t *testing.T) {
	for _, rule := range alerting.ConditionRules() {
		if _, ok := ruleTitles[rule]; !ok {
			t.Errorf("%s has no title", rule)
		}
		g := GuidanceFor(alerting.Event{Rule: rule}, nil, nil)
		if g.Procedure.ZH == "" || g.Procedure.EN == "" || g.Consequence.ZH == "" || g.Consequence.EN == "" {
			t.Errorf("%s has no guidance in both languages: %+v", rule, g)
		}
	}
}
