package console

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// TestAlertText: the board's alert and the stream's event carry what an
// operator reads, in both languages — no rule id, no English in the
// Chinese, the level apart from the GB/T 50493 stage — and the sensor's
// location.
func TestAlertText(t *testing.T) {
	h := NewHub(testRegistry(t), HubOptions{})
	e := ev("a1", alerting.EventEscalated, sensors.LevelRed, "plant-a", "gas-1", 1)
	e.PrevLevel, e.Value, e.Setpoint = sensors.LevelOrange, 56.9, 50
	e.Message = "combustible_gas gas-1 at plant-a: 56.9 %LEL at or above 50 %LEL (level 1 red)"
	h.Event(e)
	a, _ := h.Alert("a1")
	zh, en := a.Text.ZH, a.Text.EN
	if zh.Label != "红色 · 二级报警 (≥50 %LEL)" || zh.What != "可燃气体高限报警" || zh.Message != "读数 56.9 %LEL ≥ 设定值 50 %LEL" {
		t.Errorf("zh text %+v", zh)
	}
	if !strings.Contains(zh.Procedure, "切断泄漏源") || zh.Consequence == "" {
		t.Errorf("zh guidance %q / %q", zh.Procedure, zh.Consequence)
	}
	if en.Label != "Red · stage 2 (≥50 %LEL)" || en.Message != e.Message || en.Procedure == "" {
		t.Errorf("en text %+v", en)
	}
	if a.Location != "tank 1" {
		t.Errorf("location %q", a.Location)
	}

	data, err := h.streamEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		alerting.Event
		Color    string     `json:"color"`
		Text     AlertTexts `json:"text"`
		Location string     `json:"location"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("stream event %s: %v", data, err)
	}
	if got.AlertID != "a1" || got.Color != "red" || got.Text.ZH.Label != zh.Label || got.Location != "tank 1" {
		t.Errorf("stream event %s", data)
	}
}

// TestSensorText: the sensor list names the kind in Chinese with its
// unit as written, and each setpoint with its alarm stage.
func TestSensorText(t *testing.T) {
	h := NewHub(testRegistry(t), HubOptions{})
	views, _ := h.SiteSensors("plant-a", t0, 3)
	v := views[0]
	if v.Text.ZH.Kind != "可燃气体" || v.Text.ZH.Unit != "%LEL" || v.Text.ZH.Procedure == "" {
		t.Errorf("sensor text %+v", v.Text.ZH)
	}
	var stages []string
	for _, sp := range v.Setpoints {
		stages = append(stages, sp.Stage.ZH)
	}
	if strings.Join(stages, ",") != "一级报警 (≥25 %LEL),二级报警 (≥50 %LEL)" {
		t.Errorf("setpoint stages %v", stages)
	}
}

// TestRuleFileGuidance: a rule file's procedure for a rule reaches the
// board's alert, the stream's event and the sensor page over the shipped
// text; the consequence it leaves out stays the shipped one.
func TestRuleFileGuidance(t *testing.T) {
	h := NewHub(testRegistry(t), HubOptions{})
	h.SetGuidance(map[string]sensors.Guidance{"combustible_gas_high": {
		Procedure: sensors.Text{ZH: "关闭罐区切断阀 XV-101，按处置卡 HZ-07 执行", EN: "Close tank farm valve XV-101, follow card HZ-07"}}})
	e := ev("a1", alerting.EventFired, sensors.LevelOrange, "plant-a", "gas-1", 1)
	e.Value, e.Setpoint = 27, 25
	h.Event(e)
	a, _ := h.Alert("a1")
	if a.Text.ZH.Procedure != "关闭罐区切断阀 XV-101，按处置卡 HZ-07 执行" || a.Text.EN.Procedure != "Close tank farm valve XV-101, follow card HZ-07" {
		t.Errorf("board procedure %q / %q", a.Text.ZH.Procedure, a.Text.EN.Procedure)
	}
	if !strings.Contains(a.Text.ZH.Consequence, "爆炸") {
		t.Errorf("board consequence %q, want the shipped one", a.Text.ZH.Consequence)
	}
	data, err := h.streamEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "XV-101") {
		t.Errorf("stream event without the rule file's procedure: %s", data)
	}
	views, _ := h.SiteSensors("plant-a", t0, 3)
	if views[0].Text.ZH.Procedure != a.Text.ZH.Procedure || views[0].Text.EN.Procedure != a.Text.EN.Procedure {
		t.Errorf("sensor page procedure %q / %q", views[0].Text.ZH.Procedure, views[0].Text.EN.Procedure)
	}
	h.SetGuidance(nil)
	if a, _ := h.Alert("a1"); strings.Contains(a.Text.ZH.Procedure, "XV-101") {
		t.Errorf("open alert's procedure %q after the rule file's guidance is gone", a.Text.ZH.Procedure)
	}
	views, _ = h.SiteSensors("plant-a", t0, 3)
	if strings.Contains(views[0].Text.ZH.Procedure, "XV-101") {
		t.Errorf("procedure %q after the rule file's guidance is gone", views[0].Text.ZH.Procedure)
	}
}
