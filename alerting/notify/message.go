package notify

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/alarmtext"
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
	return renderAt(ev, lang, nil, nil)
}

// render writes ev in lang with what the registry in force knows of its
// sensor and site.
func (d *deliverer) render(ev alerting.Event, lang string) message {
	var reg *sensors.Registry
	if d.deps.Registry != nil {
		reg = d.deps.Registry()
	}
	var rules map[string]sensors.Guidance
	if d.deps.Guidance != nil {
		rules = d.deps.Guidance()
	}
	return renderAt(ev, lang, reg, rules)
}

// renderAt writes ev in lang; reg, when not nil, gives the sensor's own
// setpoints and its site's guidance, rules the rule files' guidance per
// rule, which wins over the site's.
func renderAt(ev alerting.Event, lang string, reg *sensors.Registry, rules map[string]sensors.Guidance) message {
	sps := defaultSetpoints(ev)
	var site *sensors.Site
	if reg != nil {
		if sn, ok := reg.Lookup(ev.Site, ev.Sensor); ok {
			sps = sn.EffectiveSetpoints()
		}
		site, _ = reg.Site(ev.Site)
	}
	if lang == LanguageEnglish {
		return renderEN(ev, alarmtext.GuidanceFor(ev, site, rules))
	}
	return renderZH(ev, sps, alarmtext.GuidanceFor(ev, site, rules))
}

func renderZH(ev alerting.Event, sps []sensors.Setpoint, g sensors.Guidance) message {
	zh := alarmtext.Chinese
	label := alarmtext.Label(ev, sps, zh)
	prevLabel := alarmtext.LevelName(ev.PrevLevel, zh)
	var tag, note string
	switch ev.Type {
	case alerting.EventResolved:
		tag, note = "已恢复", "原"+label
	case alerting.EventEscalated:
		tag, note = label, "由"+prevLabel+"升级"
	case alerting.EventDeescalated:
		tag, note = label, "由"+prevLabel+"降级"
	case alerting.EventAcknowledged:
		tag, note = "已确认", "确认人 "+ev.By
		if ev.Comment != "" {
			note += "：" + ev.Comment
		}
	case alerting.EventReminder:
		tag, note = label, "重复提醒：未确认"
	case alerting.EventUpdated:
		tag, note = label, "预测更新：比先前预计的更早"
	default:
		tag = label
	}
	if ev.Late {
		// Replayed data: the operator must not read it as happening now.
		tag = "补报 " + tag
	}
	if ev.Flapping {
		note = strings.TrimPrefix(note+"；频繁波动", "；")
	}
	subject := fmt.Sprintf("%s %s @ %s", alarmtext.Title(ev.Rule, ev.Kind, nil, zh), ev.Sensor, ev.Site)
	reading := formatValue(ev.Value) + unitSuffix(ev.Unit)
	if op := alarmtext.CompareOp(ev); op != "" {
		reading += " " + op + " " + formatValue(ev.Setpoint) + unitSuffix(ev.Unit)
	} else {
		reading += "（限值 " + formatValue(ev.Setpoint) + unitSuffix(ev.Unit) + "）"
	}
	if note != "" {
		reading += "（" + note + "）"
	}
	title := "【" + tag + "】" + subject + "：" + reading
	details := []string{
		"规则：" + ev.Rule,
		"时间：" + ev.At.In(chinaTime).Format("2006-01-02 15:04:05"),
		"开始：" + ev.StartsAt.In(chinaTime).Format("2006-01-02 15:04:05"),
		"报警编号：" + ev.AlertID,
	}
	if ev.Late {
		details = append(details, "注意：数据延迟到达（网关补传），事件发生于上述时间，并非此刻")
	}
	if alarmtext.CompareOp(ev) == "" {
		details = append(details, "说明："+alarmtext.Message(ev, zh))
	}
	if ev.Type != alerting.EventResolved && ev.Type != alerting.EventAcknowledged && !g.IsZero() {
		details = append(details, "处置措施："+g.Procedure.ZH, "可能后果："+g.Consequence.ZH)
	}
	return build(title, details)
}

// defaultSetpoints are the setpoints of the event's kind in the default
// catalog, for naming the instrument alarm stage. A notifier has no
// registry, so a sensor with setpoints of its own is named by these only
// when the event's setpoint is one of them; otherwise the stage is left
// out rather than guessed.
func defaultSetpoints(ev alerting.Event) []sensors.Setpoint {
	k, ok := catalog.Kind(ev.Kind)
	if !ok {
		return nil
	}
	sps := k.Resolve(k.Setpoints)
	if ev.Type == alerting.EventFired || ev.Type == alerting.EventEscalated || ev.Type == alerting.EventReminder {
		for _, sp := range sps {
			if sp.Level == ev.Level && sp.Value == ev.Setpoint {
				return sps
			}
		}
		return nil
	}
	return sps
}

// catalog is the default catalog, read only.
var catalog = sensors.DefaultCatalog()

func renderEN(ev alerting.Event, g sensors.Guidance) message {
	tag := levelEN(ev.Level)
	switch ev.Type {
	case alerting.EventResolved:
		tag = "RESOLVED"
	case alerting.EventAcknowledged:
		tag = "ACKNOWLEDGED"
	case alerting.EventReminder:
		tag = "REMINDER " + tag
	case alerting.EventUpdated:
		tag = "UPDATE " + tag
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
	if ev.Type != alerting.EventResolved && ev.Type != alerting.EventAcknowledged && !g.IsZero() {
		details = append(details, "Procedure: "+g.Procedure.EN, "Consequence: "+g.Consequence.EN)
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

func levelEN(l sensors.Level) string {
	return "level " + strconv.Itoa(int(l)) + " " + l.Color()
}

func unitSuffix(u string) string {
	switch u = alarmtext.Unit(u); u {
	case "":
		return ""
	case "℃", "°":
		return u
	}
	return " " + u
}

// formatValue prints a value the way an operator reads it: "27.3", not
// "27.299999999999997".
func formatValue(v float64) string { return alarmtext.FormatValue(v) }
