// Package alarmtext renders alarms for the people who act on them, in
// Chinese (zh-CN, the default) and English: what the alarm is, its
// four-colour level and its instrument alarm stage, the reading against
// its setpoint, units as operators write them, and the response
// procedure and consequence. The console and the chat notifiers share it,
// so an operator reads the same words on the board and on the phone.
//
// Terms: 报警 is an instrument alarm (a setpoint crossed), 预警 an early
// warning (a trend, rate or forecast). The four-colour level (红/橙/黄/蓝,
// the Chinese early-warning scale riskmon files alerts under) and the
// instrument alarm stage of GB/T 50493-2019 (一级报警 at the first
// setpoint, e.g. 25 %LEL, 二级报警 at the second, e.g. 50 %LEL) are two
// scales and are always written apart: "红色 · 二级报警 (≥50 %LEL)".
package alarmtext

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// Languages.
const (
	Chinese = "zh"
	English = "en"
)

// kindNamesZH are the names control rooms use for the catalog's kinds; a
// kind not listed is shown by its English name or id.
var kindNamesZH = map[sensors.KindID]string{
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

// catalog names the kinds in English when the caller has no sensor.
var catalog = sensors.DefaultCatalog()

// KindName is a kind's name in lang; k may be nil.
func KindName(kind sensors.KindID, k *sensors.Kind, lang string) string {
	if lang != English {
		if s, ok := kindNamesZH[kind]; ok {
			return s
		}
	}
	if k == nil {
		k, _ = catalog.Kind(kind)
	}
	if k != nil && k.Name != "" {
		return k.Name
	}
	return string(kind)
}

// units are the registry's ASCII units as an operator writes them.
var units = map[string]string{
	"degC":  "℃",
	"deg":   "°",
	"mg/m3": "mg/m³",
	"m3/h":  "m³/h",
	"LEL.m": "LEL·m",
	"%CH4":  "%CH₄",
}

// Unit is u as an operator writes it: ℃ for degC, mg/m³ for mg/m3.
func Unit(u string) string {
	if s, ok := units[u]; ok {
		return s
	}
	return u
}

// LevelName is the four-colour level: 红色, 橙色, 黄色, 蓝色 (Red, Orange,
// Yellow, Blue). It deliberately carries no 一级/二级: those words are
// the instrument alarm stage's (Stage).
func LevelName(l sensors.Level, lang string) string {
	if lang == English {
		switch l {
		case sensors.LevelRed:
			return "Red"
		case sensors.LevelOrange:
			return "Orange"
		case sensors.LevelYellow:
			return "Yellow"
		case sensors.LevelBlue:
			return "Blue"
		}
		return "None"
	}
	switch l {
	case sensors.LevelRed:
		return "红色"
	case sensors.LevelOrange:
		return "橙色"
	case sensors.LevelYellow:
		return "黄色"
	case sensors.LevelBlue:
		return "蓝色"
	}
	return "无"
}

// Early reports whether rule is an early-warning rule (预警): rate,
// trend or forecast.
func Early(rule string) bool {
	return strings.HasSuffix(rule, "_rate") || strings.HasSuffix(rule, "_trend") || strings.HasSuffix(rule, "_forecast")
}

// CompareOp is the comparison a threshold event states: the setpoint that
// tripped for fired and escalated, the restore value that was crossed for
// de-escalated and resolved. Empty for rules without a direction.
func CompareOp(ev alerting.Event) string {
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

// FormatValue prints a value the way an operator reads it: "27.3", not
// "27.299999999999997".
func FormatValue(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }

// withUnit is "27.3 %LEL", or "27.3" without a unit; ℃ and ° follow the
// number directly, as they are written.
func withUnit(v float64, unit string) string {
	u := Unit(unit)
	switch u {
	case "":
		return FormatValue(v)
	case "℃", "°":
		return FormatValue(v) + u
	}
	return FormatValue(v) + " " + u
}

// ruleTitles name the rules that are not a kind's own, in zh and en.
var ruleTitles = map[string][2]string{
	alerting.RuleGatewayOffline:     {"网关离线", "Gateway offline"},
	alerting.RuleDeviceOffline:      {"网关下设备离线", "Device offline"},
	alerting.RuleGatewayMismatch:    {"测点经非登记网关上报", "Sensor reports through another gateway"},
	alerting.RuleDataLoss:           {"网关数据丢失", "Gateway messages lost"},
	alerting.RuleStorageBacklog:     {"读数存储积压", "Reading storage backlog"},
	alerting.RuleClockSkew:          {"网关时钟偏差", "Gateway clock skew"},
	alerting.RuleJournalFailed:      {"操作记录写入失败", "Journal cannot write"},
	alerting.RuleJournalTorn:        {"操作记录末尾残缺（启动时发现）", "Journal tail torn (found at start)"},
	alerting.RuleStoreDamaged:       {"报警存储损坏（启动时发现）", "Alert store damaged (found at start)"},
	alerting.RuleClusterUnavailable: {"集群失去仲裁 / 消息存储不可用", "Cluster quorum lost / JetStream unavailable"},
	alerting.RuleClusterUnowned:     {"站点无实例负责（集群分区无租约）", "Sites without an owner (partition not leased)"},
	alerting.RuleSensorStuck:        {"传感器读数长时间不变（疑似故障）", "Sensor reading stuck"},
	alerting.RuleSensorJump:         {"传感器读数突变（疑似故障）", "Sensor reading jumped"},
	alerting.RuleSensorStale:        {"传感器数据中断", "Sensor silent"},
	alerting.RuleSensorDisagreement: {"冗余传感器读数不一致", "Redundant sensors disagree"},
	alerting.RuleGroupVote:          {"多测点联合报警", "Several sensors alarm together"},
}

// kindRules are the titles of a kind's own rules by suffix: %s is the
// kind's name.
var kindRules = []struct {
	suffix string
	zh, en string
}{
	{"_high", "%s高限报警", "%s: high"},
	{"_low", "%s低限报警", "%s: low"},
	{"_rate", "%s变化过快预警", "%s: changing fast"},
	{"_trend", "%s趋势异常预警", "%s: trending towards its alarm"},
	{"_forecast", "%s预计将达报警值（预警）", "%s: forecast to reach its alarm"},
	{"_twa", "%s 8小时时间加权平均浓度超限", "%s: 8-hour TWA over its exposure limit"},
	{"_stel", "%s 15分钟短时间接触浓度超限", "%s: 15-minute STEL over its exposure limit"},
}

// Title says what the alarm is, in words and without the rule id: "可燃气
// 体高限报警", "网关离线". A rule riskmon does not know (a composite rule
// from a rule file) is named by its kind when it has one.
func Title(rule string, kind sensors.KindID, k *sensors.Kind, lang string) string {
	i := 0
	if lang == English {
		i = 1
	}
	if t, ok := ruleTitles[rule]; ok {
		return t[i]
	}
	for _, r := range kindRules {
		if strings.HasSuffix(rule, r.suffix) && kind != "" {
			if lang == English {
				return fmt.Sprintf(r.en, KindName(kind, k, lang))
			}
			return fmt.Sprintf(r.zh, KindName(kind, k, lang))
		}
	}
	if kind != "" {
		if lang == English {
			return KindName(kind, k, lang) + " alarm"
		}
		return KindName(kind, k, lang) + "报警"
	}
	if lang == English {
		return "Combined alarm"
	}
	return "组合规则报警"
}

// stageNames are the instrument alarm stages of kinds whose stages have
// their own names: the coal-mine methane alarm and power cut (报警/断电,
// AQ 1029-2019).
var stageNames = map[sensors.KindID][2][]string{
	"ch4": {{"报警", "断电"}, {"alarm", "power cut"}},
}

// Stage is the instrument alarm stage of a threshold event, with the
// setpoint it stands for: "二级报警 (≥50 %LEL)". A direction with two
// setpoints has 一级报警 at the first one crossed and 二级报警 at the
// second, as GB/T 50493-2019 numbers them; with one it is 报警. Early
// warnings are 预警; other rules (sensor health, gateways) have no stage.
// sps are the sensor's effective setpoints.
func Stage(ev alerting.Event, sps []sensors.Setpoint, lang string) string {
	if Early(ev.Rule) {
		if lang == English {
			return "early warning"
		}
		return "预警"
	}
	if CompareOp(ev) == "" {
		return ""
	}
	dir := sensors.Above
	if strings.HasSuffix(ev.Rule, "_low") {
		dir = sensors.Below
	}
	var same []sensors.Setpoint
	for _, sp := range sps {
		if sp.Direction == dir {
			same = append(same, sp)
		}
	}
	// First crossed first: the lowest of the high setpoints, the highest
	// of the low ones.
	slices.SortStableFunc(same, func(a, b sensors.Setpoint) int {
		if dir == sensors.Below {
			return cmp.Compare(b.Value, a.Value)
		}
		return cmp.Compare(a.Value, b.Value)
	})
	lv := ev.TopicLevel()
	i := slices.IndexFunc(same, func(sp sensors.Setpoint) bool { return sp.Level == lv })
	if i < 0 {
		return ""
	}
	op := "≥"
	if dir == sensors.Below {
		op = "≤"
	}
	return stageName(ev.Kind, i, len(same), lang) + " (" + op + withUnit(same[i].Value, ev.Unit) + ")"
}

func stageName(kind sensors.KindID, i, n int, lang string) string {
	li := 0
	if lang == English {
		li = 1
	}
	if names, ok := stageNames[kind]; ok && i < len(names[li]) {
		return names[li][i]
	}
	if n == 1 {
		if lang == English {
			return "alarm"
		}
		return "报警"
	}
	if lang == English {
		return "stage " + strconv.Itoa(i+1)
	}
	numerals := []string{"一", "二", "三", "四", "五"}
	if i < len(numerals) {
		return numerals[i] + "级报警"
	}
	return strconv.Itoa(i+1) + "级报警"
}

// Label is the level and the stage together: "红色 · 二级报警 (≥50 %LEL)",
// or the level alone for rules without a stage.
func Label(ev alerting.Event, sps []sensors.Setpoint, lang string) string {
	l := LevelName(ev.TopicLevel(), lang)
	if s := Stage(ev, sps, lang); s != "" {
		return l + " · " + s
	}
	return l
}

// Message is the event's reading in lang. In Chinese it is written here
// from the event's fields (the engine's own message is English); in
// English it is the engine's message.
func Message(ev alerting.Event, lang string) string {
	if lang == English {
		if ev.Message != "" {
			return ev.Message
		}
		return "value " + withUnit(ev.Value, ev.Unit) + ", limit " + withUnit(ev.Setpoint, ev.Unit)
	}
	v, sp := withUnit(ev.Value, ev.Unit), withUnit(ev.Setpoint, ev.Unit)
	if op := CompareOp(ev); op != "" {
		switch ev.Type {
		case alerting.EventResolved:
			return "已恢复：" + v + " " + op + " 恢复值 " + sp
		case alerting.EventDeescalated:
			return "已回落：" + v + " " + op + " " + sp
		}
		return "读数 " + v + " " + op + " 设定值 " + sp
	}
	resolved := ev.Type == alerting.EventResolved
	switch ev.Rule {
	case alerting.RuleGatewayOffline:
		if resolved {
			return "网关 " + ev.Sensor + " 已恢复在线"
		}
		return "网关 " + ev.Sensor + " 离线，其测点暂无数据"
	case alerting.RuleDeviceOffline:
		if resolved {
			return "设备 " + ev.Sensor + " 已恢复在线"
		}
		return "设备 " + ev.Sensor + " 离线，其测点暂无数据"
	case alerting.RuleGatewayMismatch:
		if resolved {
			return "网关 " + ev.Sensor + " 已不再转发非本网关登记的测点"
		}
		return "网关 " + ev.Sensor + " 转发了登记表中属于其他网关的测点读数（已接收）；请修正登记表中该测点的网关"
	case alerting.RuleDataLoss:
		if resolved {
			return "网关 " + ev.Sensor + " 未再丢失消息"
		}
		return "网关 " + ev.Sensor + " 丢失 " + FormatValue(ev.Value) + " 条消息"
	case alerting.RuleClockSkew:
		if resolved {
			return "网关 " + ev.Sensor + " 时钟已恢复正常"
		}
		return "网关 " + ev.Sensor + " 时钟偏差 " + FormatValue(ev.Value) + " 秒"
	case alerting.RuleStorageBacklog:
		if resolved {
			return "读数存储已恢复"
		}
		return "读数暂时无法写入存储，已在本地缓存"
	case alerting.RuleSensorStale:
		if resolved {
			return "测点已恢复上报"
		}
		return "测点长时间无数据"
	case alerting.RuleJournalFailed:
		if resolved {
			return "操作记录已恢复写入，期间未写入的条数已记入"
		}
		return "操作记录无法写入（磁盘已满或读写错误），已有 " + FormatValue(ev.Value) + " 条未写入；报警照常产生和通知"
	case alerting.RuleJournalTorn:
		if resolved {
			return "启动时发现的操作记录残缺已于一小时前声明，待确认"
		}
		return "启动时发现 " + FormatValue(ev.Value) + " 处操作记录末尾残缺（上次停止时崩溃或磁盘已满），已隔离并在新记录段中声明；停止时正在写入的记录可能缺失"
	case alerting.RuleStoreDamaged:
		if resolved {
			return "启动时隔离的报警存储损坏条目已于一小时前报告，待确认"
		}
		return "启动时发现 " + FormatValue(ev.Value) + " 条报警存储损坏并已隔离，可能缺少未关闭的报警、搁置或待发通知"
	case alerting.RuleClusterUnavailable:
		if resolved {
			return "本实例已重新连通集群消息存储，读数恢复确认、存储和评估"
		}
		return "本实例已 " + FormatValue(ev.Value) + " 秒无法访问集群消息存储（集群可能失去仲裁）：网关读数未被确认、存储和评估"
	case alerting.RuleClusterUnowned:
		if resolved {
			return "集群分区 " + strings.TrimPrefix(ev.Sensor, "partition-") + " 已有实例接管"
		}
		return "集群分区 " + strings.TrimPrefix(ev.Sensor, "partition-") + " 已 " + FormatValue(ev.Value) + " 秒无实例持有租约，其站点的读数暂未评估"
	}
	if resolved {
		return "已恢复：读数 " + v
	}
	if strings.HasSuffix(ev.Rule, "_forecast") {
		return "读数 " + v + "，按当前趋势将达到报警值 " + sp
	}
	return "读数 " + v + "，限值 " + sp
}

// ruleGuidance is the guidance of rules about the monitoring itself,
// which is the same whatever the sensor measures.
var ruleGuidance = map[string]sensors.Guidance{
	alerting.RuleGatewayOffline: guide(
		"检查网关供电和通信链路，必要时派人到现场；离线期间对其测点安排人工巡检。",
		"Check the gateway's power and link, send someone if needed; patrol its points by hand while it is offline.",
		"网关离线期间其测点失去监测，险情可能无法及时发现。",
		"While the gateway is offline its points are not monitored and a hazard can go unseen."),
	alerting.RuleDeviceOffline: guide(
		"检查该设备的供电和与网关的连接，必要时派人到现场；离线期间对其测点安排人工巡检。",
		"Check the device's power and its link to the gateway, send someone if needed; patrol its points by hand while it is offline.",
		"设备离线期间其测点失去监测，险情可能无法及时发现。",
		"While the device is offline its points are not monitored and a hazard can go unseen."),
	alerting.RuleGatewayMismatch: guide(
		"核对测点实际接入的网关，修正登记表中的网关后重新加载。",
		"Check which gateway the sensor is wired to, correct its gateway in the registry and reload.",
		"登记有误时，网关离线的判断和测点中断的抑制会针对错误的网关。",
		"With the wrong gateway registered, gateway-offline and the silencing of stale sensors act on the wrong gateway."),
	alerting.RuleDataLoss: guide(
		"检查通信链路质量；丢失的数据无法补回，必要时人工核实现场。",
		"Check the link quality; lost messages do not come back, so verify on site if needed.",
		"数据缺失期间的超限可能被漏报。",
		"An exceedance during the gap may have gone unreported."),
	alerting.RuleStorageBacklog: guide(
		"检查数据库服务和磁盘空间，尽快恢复写入。",
		"Check the database service and disk space and restore writing.",
		"存储长时间失败会造成历史数据缺失、本地缓存占满。",
		"A long storage outage leaves gaps in the history and fills the local buffer."),
	alerting.RuleJournalFailed: guide(
		"检查状态目录所在磁盘的空间和读写错误，尽快恢复；期间报警照常产生和通知，请在交接班记录中人工记下处置。",
		"Check the free space and I/O errors of the state directory's disk and fix them; alarms are still raised and notified meanwhile, so note what you do in the shift log by hand.",
		"写入失败期间的报警和操作没有留下可核验的记录。",
		"Alarms and actions during the outage leave no verifiable record."),
	alerting.RuleJournalTorn: guide(
		"查明上次停止的原因（崩溃、断电或磁盘已满）并处理；运行 riskmon journal verify 核对记录链，确认后在交接班记录中注明。",
		"Find why riskmon last stopped (crash, power loss or full disk) and fix it; run riskmon journal verify to check the chain, then note it in the shift log.",
		"停止时正在写入的操作记录可能缺失；原因不除可能再次发生。",
		"The records being written when riskmon stopped may be missing, and the cause may strike again."),
	alerting.RuleStoreDamaged: guide(
		"核对当前未关闭的报警和搁置是否齐全，必要时重新搁置；查明存储损坏原因（磁盘、断电）。",
		"Check that the open alarms and shelves are all there and shelve again if needed; find why the store was damaged (disk, power loss).",
		"可能缺少未关闭的报警、搁置或待发通知。",
		"An open alarm, a shelf or a waiting notification may be missing."),
	alerting.RuleClusterUnavailable: guide(
		"检查 NATS 节点是否运行、彼此之间及与本实例的网络是否连通，至少恢复三个节点中的两个；期间网关在本地缓存读数，报警评估暂停，请安排人工巡检。",
		"Check that the NATS nodes run and reach each other and this instance, and bring back at least two of the three; meanwhile gateways hold their readings and nothing is evaluated, so arrange manual rounds.",
		"集群恢复前新读数既不存储也不评估，险情可能无法及时发现。",
		"Until the cluster recovers, new readings are neither stored nor evaluated and a hazard can go unseen."),
	alerting.RuleClusterUnowned: guide(
		"检查 riskmon 实例是否运行并能连接 NATS（/readyz、riskmon_cluster_owned_partitions）；必要时启动一个实例，它会接管空闲分区。",
		"Check that riskmon instances run and reach NATS (/readyz, riskmon_cluster_owned_partitions); start one if needed: it takes the free partitions.",
		"无实例负责的站点的读数留在集群中，不评估、不报警，直到有实例接管。",
		"The readings of sites without an owner wait in the cluster, neither evaluated nor alarmed, until an instance takes them."),
	alerting.RuleClockSkew: guide(
		"校准网关时钟（NTP）。",
		"Correct the gateway's clock (NTP).",
		"时间错误会使报警时间和趋势判断失真。",
		"A wrong clock distorts alarm times and trends."),
}

var sensorFault = guide(
	"派人到现场核查传感器，必要时标定或更换；期间用便携式仪器人工检测。",
	"Send someone to check the sensor, calibrate or replace it; measure by hand with a portable instrument meanwhile.",
	"传感器故障可能造成漏报或误报。",
	"A faulty sensor can miss an alarm or raise false ones.")

func guide(pzh, pen, czh, cen string) sensors.Guidance {
	return sensors.Guidance{Procedure: sensors.Text{ZH: pzh, EN: pen}, Consequence: sensors.Text{ZH: czh, EN: cen}}
}

// GuidanceFor is the response procedure and consequence of an event: the
// monitoring rules' own, the sensor-fault guidance for sensor-health
// rules, otherwise the kind's at the site (the site's override over the
// shipped default). An early warning keeps the kind's texts, with a first
// step of watching and checking before the alarm.
//
// rules are the rule files' texts per rule id (rulefile.Set.Guidance),
// which win over all of that: a text a rule file leaves out is taken from
// the layers below, so a rule file may give the procedure alone. A rule
// file's text for an early-warning rule is its author's whole text and
// gets no first step added.
func GuidanceFor(ev alerting.Event, site *sensors.Site, rules map[string]sensors.Guidance) sensors.Guidance {
	own, ok := rules[ev.Rule]
	if ok && own.Procedure.ZH != "" && own.Procedure.EN != "" && own.Consequence.ZH != "" && own.Consequence.EN != "" {
		return own
	}
	g := defaultGuidance(ev, site)
	if !ok {
		return g
	}
	// A text given in one language only is shown in both rather than
	// pairing the rule file's procedure with another source's
	// translation of something else.
	for _, t := range []struct{ own, def *sensors.Text }{{&own.Procedure, &g.Procedure}, {&own.Consequence, &g.Consequence}} {
		switch {
		case t.own.ZH == "" && t.own.EN == "":
			*t.own = *t.def
		case t.own.ZH == "":
			t.own.ZH = t.own.EN
		case t.own.EN == "":
			t.own.EN = t.own.ZH
		}
	}
	return own
}

// defaultGuidance is GuidanceFor without the rule files.
func defaultGuidance(ev alerting.Event, site *sensors.Site) sensors.Guidance {
	if g, ok := ruleGuidance[ev.Rule]; ok {
		return g
	}
	if strings.HasPrefix(ev.Rule, "sensor_") {
		return sensorFault
	}
	g := sensors.GuidanceFor(site, ev.Kind)
	if Early(ev.Rule) && !g.IsZero() {
		g.Procedure.ZH = "预警：加强监视，派人到现场核查，做好处置准备；达到报警时：" + g.Procedure.ZH
		g.Procedure.EN = "Early warning: watch closely, check on site and get ready; at the alarm: " + g.Procedure.EN
	}
	return g
}

// RuleTitle is Title for a rule known by its id alone (a list of the
// rules that alarmed most): a kind's own rules name their kind in their
// id, <kind>_high and the like.
func RuleTitle(rule, lang string) string {
	if _, ok := ruleTitles[rule]; ok {
		return Title(rule, "", nil, lang)
	}
	for _, r := range kindRules {
		if kind, ok := strings.CutSuffix(rule, r.suffix); ok && kind != "" {
			if _, known := catalog.Kind(sensors.KindID(kind)); known {
				return Title(rule, sensors.KindID(kind), nil, lang)
			}
		}
	}
	// A rule of a rule file: its id is the name its author gave it.
	return rule
}
