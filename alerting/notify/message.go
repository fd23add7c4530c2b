package notify

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// Language selects the text of chat messages.
const (
	LanguageChinese = "zh"
	LanguageEnglish = "en"
)

func checkLanguage(l string) (string, error) {
	switch l {
	case "", LanguageChinese:
		return LanguageChinese, nil
	case LanguageEnglish:
		return LanguageEnglish, nil
	}
	return "", fmt.Errorf("language %q: want zh or en", l)
}

// chinaTime is Beijing time. A fixed zone rather than Asia/Shanghai: China
// has no daylight saving, and a fixed zone needs no tzdata on the host.
var chinaTime = time.FixedZone("CST", 8*3600)

// kindNames are the names control rooms use for the catalog's kinds; a
// kind not listed is shown by its id.
var kindNames = map[sensors.KindID]string{
	"combustible_gas":          "可燃气体",
	"combustible_gas_openpath": "可燃气体（开路）",
	"oxygen":                   "氧气",
	"h2s":                      "硫化氢",
	"co":                       "一氧化碳",
	"nh3":                      "氨气",
	"cl2":                      "氯气",
	"so2":                      "二氧化硫",
	"tank_level":               "储罐液位",
	"tank_temperature":         "储罐温度",
	"pressure":                 "压力",
	"flow":                     "流量",
	"ch4":                      "甲烷",
	"co_mine":                  "一氧化碳（井下）",
	"o2_mine":                  "氧气（井下）",
	"co2_mine":                 "二氧化碳（井下）",
	"wind_speed":               "风速",
	"mine_temperature":         "温度（井下）",
	"dust":                     "粉尘浓度",
	"pond_water_level":         "库水位",
	"dry_beach_length":         "干滩长度",
	"phreatic_depth":           "浸润线埋深",
	"dam_displacement":         "坝体位移",
	"rainfall":                 "降雨量",
	"line_pressure":            "管网压力",
	"tunnel_gas":               "管廊可燃气体",
	"manhole_tilt":             "井盖倾斜",
}

var levelNamesZH = map[sensors.Level]string{
	sensors.LevelRed:    "一级 红色",
	sensors.LevelOrange: "二级 橙色",
	sensors.LevelYellow: "三级 黄色",
	sensors.LevelBlue:   "四级 蓝色",
}

// message is an event rendered for people: a one-line title and a
// Markdown body that repeats it with the details.
type message struct {
	Title    string
	Markdown string
	Text     string // the body without Markdown, for plain-text channels
}

// render writes ev in lang. Threshold rules (<kind>_high, <kind>_low) get
// the comparison with the setpoint, e.g. "27.3 %LEL ≥ 25"; other rules
// have no fixed direction, so their value and limit are given as such and
// the engine's own message follows.
func render(ev alerting.Event, lang string) message {
	if lang == LanguageEnglish {
		return renderEN(ev)
	}
	return renderZH(ev)
}

func renderZH(ev alerting.Event) message {
	kind := kindNames[ev.Kind]
	if kind == "" {
		kind = string(ev.Kind)
	}
	var tag, note string
	switch ev.Type {
	case alerting.EventResolved:
		tag, note = "已恢复", "原"+levelZH(ev.PrevLevel)
	case alerting.EventEscalated:
		tag, note = levelZH(ev.Level), "由"+levelZH(ev.PrevLevel)+"升级"
	case alerting.EventDeescalated:
		tag, note = levelZH(ev.Level), "由"+levelZH(ev.PrevLevel)+"降级"
	case alerting.EventAcknowledged:
		tag, note = "已确认", "确认人 "+ev.By
		if ev.Comment != "" {
			note += "：" + ev.Comment
		}
	case alerting.EventReminder:
		tag, note = levelZH(ev.Level), "重复提醒：未确认"
	default:
		tag = levelZH(ev.Level)
	}
	if ev.Late {
		// Replayed data: the operator must not read it as happening now.
		tag = "补报 " + tag
	}
	if ev.Flapping {
		note = strings.TrimPrefix(note+"；频繁波动", "；")
	}
	subject := fmt.Sprintf("%s %s @ %s", kind, ev.Sensor, ev.Site)
	reading := formatValue(ev.Value) + unitSuffix(ev.Unit)
	if op := compareOp(ev); op != "" {
		reading += " " + op + " " + formatValue(ev.Setpoint)
	} else {
		reading += "（限值 " + formatValue(ev.Setpoint) + "）"
	}
	if note != "" {
		reading += "（" + note + "）"
	}
	title := "【" + tag + "】" + subject + "：" + reading
	details := []string{
		"规则：" + ev.Rule,
		"时间：" + ev.At.In(chinaTime).Format("2006-01-02 15:04:05"),
		"开始：" + ev.StartsAt.In(chinaTime).Format("2006-01-02 15:04:05"),
		"告警编号：" + ev.AlertID,
	}
	if ev.Late {
		details = append(details, "注意：数据延迟到达（网关补传），事件发生于上述时间，并非此刻")
	}
	if compareOp(ev) == "" && ev.Message != "" {
		details = append(details, "说明："+ev.Message)
	}
	return build(title, details)
}

func renderEN(ev alerting.Event) message {
	tag := levelEN(ev.Level)
	switch ev.Type {
	case alerting.EventResolved:
		tag = "RESOLVED"
	case alerting.EventAcknowledged:
		tag = "ACKNOWLEDGED"
	case alerting.EventReminder:
		tag = "REMINDER " + tag
	}
	if ev.Late {
		tag = "RETROSPECTIVE " + tag
	}
	if ev.Flapping {
		tag += ", FLAPPING"
	}
	title := "[" + tag + "] " + ev.Message
	details := []string{
		"Rule: " + ev.Rule,
		"Time: " + ev.At.UTC().Format(time.RFC3339),
		"Started: " + ev.StartsAt.UTC().Format(time.RFC3339),
		"Alert ID: " + ev.AlertID,
	}
	if ev.Late {
		details = append(details, "Note: the readings arrived late (replayed by the gateway); this happened at the time above, not now")
	}
	return build(title, details)
}

func build(title string, details []string) message {
	var md, txt strings.Builder
	md.WriteString("### " + title + "\n\n")
	txt.WriteString(title + "\n")
	for _, d := range details {
		md.WriteString("- " + d + "\n")
		txt.WriteString(d + "\n")
	}
	return message{Title: title, Markdown: md.String(), Text: strings.TrimSuffix(txt.String(), "\n")}
}

// compareOp is the comparison a threshold event states: the setpoint that
// tripped for fired and escalated, the restore value that was crossed for
// deescalated and resolved. Empty for rules without a direction.
func compareOp(ev alerting.Event) string {
	high := strings.HasSuffix(ev.Rule, "_high")
	if !high && !strings.HasSuffix(ev.Rule, "_low") {
		return ""
	}
	restore := ev.Type == alerting.EventResolved || ev.Type == alerting.EventDeescalated
	switch {
	case high && !restore:
		return "≥"
	case high:
		return "<"
	case !restore:
		return "≤"
	default:
		return ">"
	}
}

func levelZH(l sensors.Level) string {
	if s, ok := levelNamesZH[l]; ok {
		return s
	}
	return "无"
}

func levelEN(l sensors.Level) string {
	return "level " + strconv.Itoa(int(l)) + " " + l.Color()
}

func unitSuffix(u string) string {
	if u == "" {
		return ""
	}
	return " " + u
}

// formatValue prints a value the way an operator reads it: "27.3", not
// "27.299999999999997".
func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }
