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
		{"resolved", resolvedEvent(), "zh", "【已恢复】可燃气体高限报警 GT-101 @ hz-01：20.1 %LEL < 23 %LEL（原橙色 · 一级报警 (≥25 %LEL)）"},
		{"escalated", escalated, "zh", "【红色 · 二级报警 (≥50 %LEL)】可燃气体高限报警 GT-101 @ hz-01：53.4 %LEL ≥ 50 %LEL（由橙色升级）"},
		{"deescalated", deesc, "zh", "【橙色 · 一级报警 (≥25 %LEL)】可燃气体高限报警 GT-101 @ hz-01：40 %LEL < 45 %LEL（由红色降级）"},
		{"low", low, "zh", "【橙色 · 报警 (≤19.5 %VOL)】氧气低限报警 O2-3 @ hz-01：19.1 %VOL ≤ 19.5 %VOL"},
		{"low resolved", lowResolved, "zh", "【已恢复】氧气低限报警 O2-3 @ hz-01：20.2 %VOL > 20 %VOL（原橙色 · 报警 (≤19.5 %VOL)）"},
		{"no direction, unknown kind", stale, "zh", "【蓝色】传感器数据中断 GT-101 @ hz-01：31（限值 30）"},
		{"reminder", reminder, "zh", "【橙色 · 一级报警 (≥25 %LEL)】可燃气体高限报警 GT-101 @ hz-01：27.3 %LEL ≥ 25 %LEL（重复提醒：未确认）"},
		{"late", late, "zh", "【补报 橙色 · 一级报警 (≥25 %LEL)】可燃气体高限报警 GT-101 @ hz-01：27.3 %LEL ≥ 25 %LEL"},
		{"flapping", flapping, "zh", "【橙色 · 一级报警 (≥25 %LEL)】可燃气体高限报警 GT-101 @ hz-01：27.3 %LEL ≥ 25 %LEL（频繁波动）"},
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
	for _, want := range []string{"规则：combustible_gas_high", "时间：2026-11-28 18:02:02", "报警编号：ed7e423dfd78d663", "处置措施：核实现场浓度；禁止动火和操作非防爆电器；切断泄漏源并加强通风；二级报警时按预案疏散无关人员、启动应急响应。", "可能后果：可燃气体积聚到爆炸下限即可引发火灾、爆炸。"} {
		if !strings.Contains(m.Markdown, "- "+want+"\n") {
			t.Errorf("markdown lacks %q:\n%s", want, m.Markdown)
		}
	}
}

// TestRenderGuidance: an alarm's notification says what to do and what
// is at stake, in the notifier's language; its resolution does not.
func TestRenderGuidance(t *testing.T) {
	for _, tc := range []struct {
		lang, procedure, consequence string
	}{
		{LanguageChinese, "- 处置措施：", "- 可能后果："},
		{LanguageEnglish, "- Procedure: Verify the concentration on site", "- Consequence: "},
	} {
		m := render(firedEvent(), tc.lang)
		if !strings.Contains(m.Markdown, tc.procedure) || !strings.Contains(m.Markdown, tc.consequence) {
			t.Errorf("%s: no procedure or consequence:\n%s", tc.lang, m.Markdown)
		}
		if r := render(resolvedEvent(), tc.lang); strings.Contains(r.Markdown, tc.procedure) {
			t.Errorf("%s: the resolution repeats the procedure:\n%s", tc.lang, r.Markdown)
		}
	}
}

// TestRenderWithRegistry: with the registry in force, a message names
// the sensor's own alarm stage and carries its site's procedure.
func TestRenderWithRegistry(t *testing.T) {
	src := `sites:
  - id: hz-01
    name: Tank farm 1
    sector: hazchem
    guidance:
      combustible_gas:
        procedure: {zh: 按本厂处置卡 HZ-07 执行, en: Follow card HZ-07}
    sensors:
      - id: GT-101
        kind: combustible_gas
        gateway: gw1
        setpoints:
          - {level: 2, direction: above, value: 20}
          - {level: 1, direction: above, value: 25}
`
	reg, err := sensors.LoadYAML(sensors.DefaultCatalog(), "reg.yaml", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	ev := firedEvent() // orange at 25: the catalog's first stage, this sensor's red
	ev.Setpoint = 20
	m := renderAt(ev, LanguageChinese, reg, nil)
	if !strings.HasPrefix(m.Title, "【橙色 · 一级报警 (≥20 %LEL)】") {
		t.Errorf("title %q, want the sensor's own first stage at 20", m.Title)
	}
	if !strings.Contains(m.Markdown, "- 处置措施：按本厂处置卡 HZ-07 执行\n") || !strings.Contains(m.Markdown, "- 可能后果：可燃气体") {
		t.Errorf("the site's procedure, with the default consequence, missing:\n%s", m.Markdown)
	}
	if en := renderAt(ev, LanguageEnglish, reg, nil); !strings.Contains(en.Markdown, "- Procedure: Follow card HZ-07\n") {
		t.Errorf("English:\n%s", en.Markdown)
	}
	// A rule file's text for the rule wins over the site's; the
	// consequence it leaves out still comes from below.
	d := &deliverer{deps: Deps{Registry: func() *sensors.Registry { return reg },
		Guidance: func() map[string]sensors.Guidance {
			return map[string]sensors.Guidance{ev.Rule: {Procedure: sensors.Text{ZH: "关闭 XV-101 切断阀", EN: "Close shut-off valve XV-101"}}}
		}}}
	zh, en := d.render(ev, LanguageChinese), d.render(ev, LanguageEnglish)
	if !strings.Contains(zh.Markdown, "- 处置措施：关闭 XV-101 切断阀\n") || strings.Contains(zh.Markdown, "HZ-07") || !strings.Contains(zh.Markdown, "- 可能后果：可燃气体") {
		t.Errorf("the rule file's procedure over the site's, with the default consequence:\n%s", zh.Markdown)
	}
	if !strings.Contains(en.Markdown, "- Procedure: Close shut-off valve XV-101\n") {
		t.Errorf("English with the rule file's procedure:\n%s", en.Markdown)
	}
	// Without the registry the catalog's setpoints do not hold 20: no
	// stage is guessed.
	if m := render(ev, LanguageChinese); !strings.HasPrefix(m.Title, "【橙色】") {
		t.Errorf("title without a registry %q", m.Title)
	}
}
