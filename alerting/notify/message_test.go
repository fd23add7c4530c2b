package notify

import (
	"strings"
	"testing"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

func TestRenderTitle(t *testing.T) {
	escalated := firedEvent()
	escalated.Type, escalated.Level, escalated.PrevLevel = alerting.EventEscalated, sensors.LevelRed, sensors.LevelOrange
	escalated.Value, escalated.Setpoint = 53.4, 50
	deesc := escalated
	deesc.Type, deesc.Level, deesc.PrevLevel = alerting.EventDeescalated, sensors.LevelOrange, sensors.LevelRed
	deesc.Value, deesc.Setpoint = 40, 45
	low := firedEvent()
	low.Rule, low.Kind, low.Unit, low.Sensor, low.Value, low.Setpoint = "oxygen_low", "oxygen", "%VOL", "O2-3", 19.1, 19.5
	lowResolved := low
	lowResolved.Type, lowResolved.Level, lowResolved.PrevLevel, lowResolved.Value, lowResolved.Setpoint = alerting.EventResolved, 0, sensors.LevelOrange, 20.2, 20
	stale := firedEvent()
	stale.Rule, stale.Kind, stale.Level, stale.Value, stale.Setpoint = "sensor_stale", "unknown_kind", sensors.LevelBlue, 31, 30
	stale.Unit = ""
	reminder := firedEvent()
	reminder.Type = alerting.EventReminder
	late := firedEvent()
	late.Late = true
	lateEN := late
	flapping := firedEvent()
	flapping.Flapping = true

	tests := []struct {
		name string
		ev   alerting.Event
		lang string
		want string
	}{
		{"fired", firedEvent(), "zh", wantTitleZH},
		{"resolved", resolvedEvent(), "zh", "【已恢复】可燃气体 GT-101 @ hz-01：20.1 %LEL < 23（原二级 橙色）"},
		{"escalated", escalated, "zh", "【一级 红色】可燃气体 GT-101 @ hz-01：53.4 %LEL ≥ 50（由二级 橙色升级）"},
		{"deescalated", deesc, "zh", "【二级 橙色】可燃气体 GT-101 @ hz-01：40 %LEL < 45（由一级 红色降级）"},
		{"low", low, "zh", "【二级 橙色】氧气 O2-3 @ hz-01：19.1 %VOL ≤ 19.5"},
		{"low resolved", lowResolved, "zh", "【已恢复】氧气 O2-3 @ hz-01：20.2 %VOL > 20（原二级 橙色）"},
		{"no direction, unknown kind", stale, "zh", "【四级 蓝色】unknown_kind GT-101 @ hz-01：31（限值 30）"},
		{"reminder", reminder, "zh", "【二级 橙色】可燃气体 GT-101 @ hz-01：27.3 %LEL ≥ 25（重复提醒：未确认）"},
		{"late", late, "zh", "【补报 二级 橙色】可燃气体 GT-101 @ hz-01：27.3 %LEL ≥ 25"},
		{"flapping", flapping, "zh", "【二级 橙色】可燃气体 GT-101 @ hz-01：27.3 %LEL ≥ 25（频繁波动）"},
		{"english late", lateEN, "en", "[RETROSPECTIVE level 2 orange] combustible_gas GT-101 at hz-01: 27.3 %LEL >= 25 (level 2 orange)"},
		{"english fired", firedEvent(), "en", "[level 2 orange] combustible_gas GT-101 at hz-01: 27.3 %LEL >= 25 (level 2 orange)"},
		{"english resolved", resolvedEvent(), "en", "[RESOLVED] combustible_gas GT-101 at hz-01: 20.1 %LEL < 23 (resolved, was level 2 orange)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := render(tt.ev, tt.lang)
			if m.Title != tt.want {
				t.Errorf("title\n got %q\nwant %q", m.Title, tt.want)
			}
			if !strings.HasPrefix(m.Markdown, "### "+tt.want+"\n") || !strings.HasPrefix(m.Text, tt.want+"\n") {
				t.Errorf("body does not start with the title:\n%s\n%s", m.Markdown, m.Text)
			}
		})
	}
}

func TestRenderDetails(t *testing.T) {
	m := render(firedEvent(), LanguageChinese)
	// 10:02:02 UTC is 18:02:02 in Beijing.
	for _, want := range []string{"规则：combustible_gas_high", "时间：2026-11-28 18:02:02", "告警编号：ed7e423dfd78d663"} {
		if !strings.Contains(m.Markdown, "- "+want+"\n") {
			t.Errorf("markdown lacks %q:\n%s", want, m.Markdown)
		}
	}
}
