package sensors

// Text is one operator-facing text in the console's two languages.
type Text struct {
	ZH string `json:"zh,omitempty" yaml:"zh,omitempty"`
	EN string `json:"en,omitempty" yaml:"en,omitempty"`
}

// In is the text in lang ("en" or anything else for Chinese), falling
// back to the other language when that one is empty.
func (t Text) In(lang string) string {
	if lang == "en" {
		if t.EN != "" {
			return t.EN
		}
		return t.ZH
	}
	if t.ZH != "" {
		return t.ZH
	}
	return t.EN
}

// IsZero reports whether t has no text in either language.
func (t Text) IsZero() bool { return t.ZH == "" && t.EN == "" }

// Guidance is what an operator does about an alarm (处置措施) and what
// happens if nobody does (后果), as ISA-18.2 alarm rationalization asks of
// every alarm. The defaults are short first steps, not a site's emergency
// plan: a site puts its own in the registry (Site.Guidance).
type Guidance struct {
	Procedure   Text `json:"procedure" yaml:"procedure,omitempty"`
	Consequence Text `json:"consequence" yaml:"consequence,omitempty"`
}

// IsZero reports whether g says nothing.
func (g Guidance) IsZero() bool { return g.Procedure.IsZero() && g.Consequence.IsZero() }

// Merge fills the empty texts of g from d, so a site may override the
// procedure alone and keep the default consequence.
func (g Guidance) Merge(d Guidance) Guidance {
	if g.Procedure.ZH == "" {
		g.Procedure.ZH = d.Procedure.ZH
	}
	if g.Procedure.EN == "" {
		g.Procedure.EN = d.Procedure.EN
	}
	if g.Consequence.ZH == "" {
		g.Consequence.ZH = d.Consequence.ZH
	}
	if g.Consequence.EN == "" {
		g.Consequence.EN = d.Consequence.EN
	}
	return g
}

// SiteGuidance is a site's own guidance per kind.
type SiteGuidance map[KindID]Guidance

// GuidanceFor is the guidance for an alarm of kind at the site: the
// site's own (Site.Guidance) over the shipped default of the kind.
func GuidanceFor(site *Site, kind KindID) Guidance {
	d := defaultGuidance[kind]
	if site != nil && site.Guidance != nil {
		if g, ok := (*site.Guidance)[kind]; ok {
			return g.Merge(d)
		}
	}
	return d
}

// DefaultGuidance is the shipped guidance of a kind; ok is false for a
// kind riskmon does not ship.
func DefaultGuidance(kind KindID) (Guidance, bool) {
	g, ok := defaultGuidance[kind]
	return g, ok
}

func guide(pzh, pen, czh, cen string) Guidance {
	return Guidance{Procedure: Text{pzh, pen}, Consequence: Text{czh, cen}}
}

var (
	gasGuidance = guide(
		"核实现场浓度；禁止动火和操作非防爆电器；切断泄漏源并加强通风；二级报警时按预案疏散无关人员、启动应急响应。",
		"Verify the concentration on site; stop hot work and non-explosion-proof equipment; isolate the leak and ventilate; at the second stage evacuate non-essential staff and start the emergency plan.",
		"可燃气体积聚到爆炸下限即可引发火灾、爆炸。",
		"Gas that accumulates to its lower explosive limit can ignite and explode.")
	toxicProcedure = Text{
		"佩戴正压式空气呼吸器或防毒面具后方可进入；查找并切断泄漏源；疏散下风向人员；加强通风，必要时启动应急预案。",
		"Enter only with breathing apparatus or a gas mask; find and isolate the leak; evacuate people downwind; ventilate, and start the emergency plan if needed.",
	}
	pressureGuidance = guide(
		"核对压力，检查调压装置、安全阀和上下游阀门；超压时泄压或减少进料，压力骤降时排查泄漏。",
		"Verify the pressure; check regulators, relief valves and the valves up- and downstream; relieve or cut the feed on overpressure, search for a leak on a sudden drop.",
		"超压可致设备、管道破裂泄漏；压力骤降可能是管道破损泄漏。",
		"Overpressure can rupture vessels and lines; a sudden drop may mean a line is leaking.")
)

// defaultGuidance holds the shipped texts per kind of the default
// catalog.
var defaultGuidance = map[KindID]Guidance{
	"combustible_gas":          gasGuidance,
	"combustible_gas_openpath": gasGuidance,
	"tunnel_gas": guide(
		"启动所在及相邻舱室的事故通风；禁止人员入舱和动火；达到切断值时关闭燃气紧急切断阀；通知燃气企业抢修。",
		"Start accident ventilation in the zone and its neighbours; keep people and hot work out; at the shut-off value close the gas emergency valve; call the gas company's repair crew.",
		"管廊燃气舱内燃气积聚可引发爆炸，波及相邻管线。",
		"Gas accumulating in the tunnel compartment can explode and damage the neighbouring utilities."),
	"oxygen": guide(
		"核实氧含量；缺氧时禁止进入，救援须佩戴正压式空气呼吸器，加强通风；富氧时排除火源，查找氧气泄漏。",
		"Verify the oxygen level; if it is low keep people out, rescue only with breathing apparatus, ventilate; if it is high remove ignition sources and find the oxygen leak.",
		"缺氧可致人员窒息；富氧会大幅增加火灾危险。",
		"Too little oxygen suffocates; too much makes fire far more likely."),
	"h2s": {Procedure: toxicProcedure, Consequence: Text{
		"硫化氢可致人员急性中毒甚至“电击样”死亡，且易燃。",
		"Hydrogen sulphide poisons quickly, can kill within breaths, and is flammable."}},
	"co": {Procedure: toxicProcedure, Consequence: Text{
		"一氧化碳可致人员中毒、窒息，且易燃。",
		"Carbon monoxide poisons and suffocates, and is flammable."}},
	"nh3": {Procedure: toxicProcedure, Consequence: Text{
		"氨气灼伤眼睛和呼吸道，高浓度可致死，并可燃爆。",
		"Ammonia burns eyes and airways, kills at high concentrations and can explode."}},
	"cl2": {Procedure: toxicProcedure, Consequence: Text{
		"氯气强烈刺激呼吸道，可致肺水肿和死亡。",
		"Chlorine attacks the airways and can cause lung oedema and death."}},
	"so2": {Procedure: toxicProcedure, Consequence: Text{
		"二氧化硫刺激呼吸道，高浓度可致窒息。",
		"Sulphur dioxide irritates the airways and suffocates at high concentrations."}},
	"tank_level": guide(
		"核对液位计与现场液位；停止进料或启动倒罐输转，确认高高液位联锁动作；低液位时停泵。",
		"Check the gauge against the tank; stop the feed or transfer out and confirm the high-high interlock acted; on low level stop the pump.",
		"冒罐溢流可造成泄漏、火灾爆炸和环境污染；液位过低可使泵抽空损坏。",
		"An overfilled tank spills and can cause fire, explosion and pollution; too low a level runs the pump dry."),
	"tank_temperature": guide(
		"检查温控和冷却系统，必要时启动喷淋降温，停止加热和进料。",
		"Check temperature control and cooling; start the water spray if needed; stop heating and the feed.",
		"温度超限可使物料汽化超压，引发泄漏或火灾爆炸。",
		"Overheating vaporises the contents and raises the pressure, towards a leak, fire or explosion."),
	"pressure":      pressureGuidance,
	"line_pressure": pressureGuidance,
	"flow": guide(
		"核对流量与工况，检查阀门、泵和管线有无泄漏或堵塞。",
		"Check the flow against the process; look for leaks or blockages at valves, pumps and lines.",
		"流量异常可能意味着泄漏、堵塞或工艺失控。",
		"Abnormal flow can mean a leak, a blockage or a process running away."),
	"ch4": guide(
		"停止作业，撤出人员；达到断电值时确认监控系统已切断相关区域电源；查明瓦斯来源并加强通风；浓度降至复电值以下方可复电。",
		"Stop work and withdraw people; at the power-cut value confirm the monitoring system cut power in the area; find the source and ventilate; restore power only below the restore value.",
		"瓦斯积聚可引发瓦斯燃烧或爆炸。",
		"Accumulating methane can burn or explode."),
	"co_mine": guide(
		"查明一氧化碳来源（自然发火、爆破、火灾），撤出受威胁区域人员并佩戴自救器，加强通风。",
		"Find the source of the carbon monoxide (spontaneous combustion, blasting, fire); withdraw people from the area with self-rescuers; ventilate.",
		"一氧化碳可致人员中毒；持续升高常是煤层自然发火的征兆。",
		"Carbon monoxide poisons; a steady rise is often the first sign of spontaneous combustion."),
	"o2_mine": guide(
		"停止作业并撤出人员，检查通风系统，风量恢复正常后方可进入。",
		"Stop work and withdraw people; check the ventilation; re-enter only once the air is back to normal.",
		"缺氧可致人员窒息。",
		"Too little oxygen suffocates."),
	"co2_mine": guide(
		"加强通风，查明二氧化碳来源；超限区域停止作业、撤出人员。",
		"Ventilate and find the source of the carbon dioxide; stop work and withdraw people where it is over the limit.",
		"二氧化碳积聚可致人员窒息。",
		"Carbon dioxide accumulating displaces oxygen and suffocates."),
	"wind_speed": guide(
		"检查主要通风机、局部通风机和风门风窗，调整风量到规程范围。",
		"Check the main and auxiliary fans, the doors and regulators; bring the air speed back into the rules' range.",
		"风量不足使瓦斯、粉尘积聚；风速过高会扬起煤尘。",
		"Too little air lets methane and dust accumulate; too much raises coal dust."),
	"mine_temperature": guide(
		"加强通风降温，必要时缩短作业时间或停止作业；排查热源，包括自然发火。",
		"Ventilate and cool; shorten or stop work if needed; look for the heat source, including spontaneous combustion.",
		"高温可致人员中暑，也可能是自然发火的征兆。",
		"Heat exhausts people and may be a sign of spontaneous combustion."),
	"dust": guide(
		"开启喷雾降尘，检查除尘设施，作业人员佩戴防尘口罩。",
		"Start the water sprays, check the dust extraction, and have the crew wear dust masks.",
		"粉尘可致尘肺病，煤尘积聚可引发煤尘爆炸。",
		"Dust causes lung disease, and accumulated coal dust can explode."),
	"pond_water_level": guide(
		"核实库水位，开启排洪设施，停止向库内排放，按防汛预案处置。",
		"Verify the water level, open the flood discharge, stop discharging into the pond, and follow the flood plan.",
		"库水位过高会减小调洪库容和安全超高，可能导致漫顶、溃坝。",
		"A high pond eats the flood storage and freeboard, towards overtopping and dam failure."),
	"dry_beach_length": guide(
		"调整放矿位置以延长干滩，降低库水位。",
		"Move the discharge point to lengthen the beach, and lower the pond.",
		"干滩过短会降低坝体稳定性，增加渗透破坏和溃坝风险。",
		"A short dry beach weakens the dam against seepage and failure."),
	"phreatic_depth": guide(
		"加强坝体巡查，降低库水位，检查排渗设施。",
		"Inspect the dam more often, lower the pond and check the drainage.",
		"浸润线过高会降低坝坡稳定性，可能导致滑坡、溃坝。",
		"A high phreatic line weakens the slope, towards a slide or dam failure."),
	"dam_displacement": guide(
		"加密监测和人工巡查，核查位移趋势；必要时停止排放并撤离下游人员。",
		"Monitor and inspect more often and check the displacement trend; if needed stop discharging and evacuate downstream.",
		"坝体位移加速可能预示滑坡或溃坝。",
		"Accelerating displacement may announce a slide or dam failure."),
	"rainfall": guide(
		"启动防汛预案，检查排洪设施，加强巡查。",
		"Start the flood plan, check the flood discharge and inspect more often.",
		"强降雨会迅速抬高库水位，威胁坝体安全。",
		"Heavy rain raises the pond fast and threatens the dam."),
	"manhole_tilt": guide(
		"派人到现场核查井盖，设置警示，复位或更换井盖。",
		"Send someone to check the cover, put up a warning, and reseat or replace it.",
		"井盖移位可致行人车辆坠落，也可能是井内燃气爆炸的征兆。",
		"A displaced cover is a fall hazard and may be a sign of a gas explosion below."),
}
