package sensors

import (
	"fmt"
	"slices"
	"time"
)

// Sources of default setpoints, cited as ../shared/domain.md tags them:
// [Q] clause quoted on a mirror of the standard, [S] secondary source.
const (
	srcGB50493       = "GB/T 50493-2019 §5.5.2 [Q]"
	srcGB50493Toxic  = "GB/T 50493-2019 §5.5.2(3), per-gas vendor table [S]"
	srcGB50493O2     = "GB/T 50493-2019 §5.5.2(4) [Q]"
	srcGB50493Open   = "GB/T 50493-2019 §5.5.2(5) [Q]"
	srcCoalCH4       = "AQ 1029-2019 mine settings table, working face T1 [S]"
	srcCoalRules     = "煤矿安全规程 (coal mine safety regulations) [S]"
	srcCoalWind      = "煤矿安全规程 wind-speed table, working face [S]"
	srcCoalTemp      = "煤矿安全规程 working-face temperature, older text [S]"
	srcUtilityTunnel = "utility-tunnel code (probably GB 50838-2015) [S]"
	srcManholeVendor = "vendor default for manhole tilt [S]"
)

// Catalog is the set of sensor kinds a registry may use.
type Catalog struct {
	kinds map[KindID]*Kind
}

// NewCatalog builds a catalog from kinds; later duplicates replace earlier.
func NewCatalog(kinds ...Kind) *Catalog {
	c := &Catalog{kinds: make(map[KindID]*Kind, len(kinds))}
	for i := range kinds {
		k := kinds[i]
		c.kinds[k.ID] = &k
	}
	return c
}

// Kind looks a kind up by id.
func (c *Catalog) Kind(id KindID) (*Kind, bool) {
	k, ok := c.kinds[id]
	return k, ok
}

// Kinds lists the catalog's kinds sorted by id.
func (c *Catalog) Kinds() []*Kind {
	out := make([]*Kind, 0, len(c.kinds))
	for _, k := range c.kinds {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b *Kind) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// Instrument alarms (报警) come in two levels. riskmon maps the first-level
// setpoint to an orange (level 2) alert and the second-level one to red
// (level 1): an exceeded setpoint is a present hazard, so yellow and blue
// stay free for early warnings (预警) from trend and forecast rules.
func twoLevel(dir Direction, l1, l2 float64, src string) []Setpoint {
	return []Setpoint{
		{Level: LevelOrange, Direction: dir, Value: l1, Source: src},
		{Level: LevelRed, Direction: dir, Value: l2, Source: src},
	}
}

// kilo is a pressure kind's kPa option: a transmitter scaled in kPa
// rather than MPa.
func kilo(min, max, deadband float64) UnitOption {
	return UnitOption{Unit: "kPa", Min: min * 1000, Max: max * 1000, Deadband: deadband * 1000, Scale: 1000}
}

// kelvin is a temperature kind's K option.
func kelvin(min, max, deadband float64) UnitOption {
	return UnitOption{Unit: "K", Min: min + 273.15, Max: max + 273.15, Deadband: deadband, Scale: 1, Offset: 273.15}
}

// molarVolume is the volume in litres of a mole of gas at 20 °C and
// 101.3 kPa, the reference conditions of China's occupational health
// standards: the GBZ 2.1 limits in mg/m3 are judged on air sampled by
// GBZ 159-2004 and measured by the GBZ/T 160 methods, which state the
// sampled volume at 20 °C and 101.3 kPa (V0 = V·293/(273+t)·P/101.3).
// [S]: the clause is as secondary sources give it, not verified against
// the standard's text (domain.md (e) 14).
// 24.04 is 22.4 × 293/273, the rounded figures of that formula; the ideal
// gas gives 24.06 (0.1 % more), far inside a detector's accuracy. Tables
// at 25 °C use 24.45: the same ppm is then 1.7 % fewer mg/m3.
const molarVolume = 24.04

// ppm is a toxic gas kind's ppm option, for a gas of molar mass m (g/mol)
// whose own unit is mg/m3: mg/m3 = ppm × m / 24.04, so one mg/m3 is
// 24.04/m ppm. The range and deadband are the kind's, converted, so a
// ppm detector is held to the same span as an mg/m3 one.
func ppm(m, min, max, deadband float64) UnitOption {
	f := molarVolume / m
	return UnitOption{Unit: "ppm", Min: min * f, Max: max * f, Deadband: deadband * f, Scale: f,
		Basis:   fmt.Sprintf("mg/m3 = ppm × %g / %g, at 20 °C and 101.3 kPa (GBZ 159)", m, molarVolume),
		BasisZH: fmt.Sprintf("mg/m³ = ppm × %g / %g，按 20 ℃、101.3 kPa（GBZ 159）换算", m, molarVolume)}
}

// DefaultCatalog returns the kinds riskmon ships with. Setpoints are set
// only where a national rule gives a value; design-specific limits (tank
// level, pipeline pressure, tailings items) must come from the registry.
// It is a plain data table, one kind per entry grouped by sector;
// NewCatalog indexes it by id.
func DefaultCatalog() *Catalog {
	gas := []Sector{SectorHazchem, SectorUrbanGas, SectorPipeline}
	hz := []Sector{SectorHazchem}
	coal := []Sector{SectorCoal}
	tail := []Sector{SectorNonCoal}
	pipe := []Sector{SectorPipeline, SectorUrbanGas}
	vol := []string{"%"}
	s := time.Second
	return NewCatalog(
		// Hazardous chemicals: gas detection (GDS).
		Kind{ID: "combustible_gas", Name: "Combustible gas, point detector", Unit: "%LEL", Min: 0, Max: 100, Deadband: 2, Interval: 5 * s, Sectors: gas,
			Setpoints: twoLevel(Above, 25, 50, srcGB50493)},
		Kind{ID: "combustible_gas_openpath", Name: "Combustible gas, open-path", Unit: "LEL.m", Min: 0, Max: 5, Deadband: 0.1, Interval: 5 * s, Sectors: hz,
			Setpoints: twoLevel(Above, 1, 2, srcGB50493Open)},
		// Oxygen and the mine gases are a share of the air by volume:
		// detectors and gateways write it "%", which is the same unit.
		Kind{ID: "oxygen", Name: "Oxygen, ambient", Unit: "%VOL", Aliases: vol, Min: 0, Max: 25, Deadband: 0.3, Interval: 5 * s, Sectors: []Sector{SectorHazchem, SectorNonCoal},
			Setpoints: []Setpoint{
				{Level: LevelOrange, Direction: Below, Value: 19.5, Source: srcGB50493O2},
				{Level: LevelOrange, Direction: Above, Value: 23.5, Source: srcGB50493O2},
			},
			Note:   "one level each way: GB/T 50493-2019 §5.5.2(4) gives under-oxygen 19.5 and over-oxygen 23.5 %VOL and no second level",
			NoteZH: "欠氧、富氧各一级：GB/T 50493-2019 第5.5.2条第4款给出欠氧 19.5%VOL、富氧 23.5%VOL，未给出二级"},
		// Toxic gas limits are in mg/m3 (GBZ 2.1); most fixed detectors
		// report ppm, which converts at the GBZ reference conditions
		// (molarVolume). Dust has no ppm: it is not a gas.
		Kind{ID: "h2s", Name: "Hydrogen sulphide", Unit: "mg/m3", Min: 0, Max: 150, Deadband: 1, Interval: 5 * s, Sectors: hz,
			Setpoints: twoLevel(Above, 10, 20, srcGB50493Toxic), Units: []UnitOption{ppm(34.08, 0, 150, 1)}},
		Kind{ID: "co", Name: "Carbon monoxide (hazchem)", Unit: "mg/m3", Min: 0, Max: 1000, Deadband: 2, Interval: 5 * s, Sectors: hz,
			Setpoints: twoLevel(Above, 20, 40, srcGB50493Toxic), Units: []UnitOption{ppm(28.01, 0, 1000, 2)}},
		Kind{ID: "nh3", Name: "Ammonia", Unit: "mg/m3", Min: 0, Max: 500, Deadband: 2, Interval: 5 * s, Sectors: hz,
			Setpoints: twoLevel(Above, 20, 40, srcGB50493Toxic), Units: []UnitOption{ppm(17.03, 0, 500, 2)}},
		Kind{ID: "cl2", Name: "Chlorine", Unit: "mg/m3", Min: 0, Max: 30, Deadband: 0.1, Interval: 5 * s, Sectors: hz,
			Setpoints: twoLevel(Above, 1, 2, srcGB50493Toxic), Units: []UnitOption{ppm(70.90, 0, 30, 0.1)}},
		Kind{ID: "so2", Name: "Sulphur dioxide", Unit: "mg/m3", Min: 0, Max: 100, Deadband: 0.5, Interval: 5 * s, Sectors: hz,
			Setpoints: twoLevel(Above, 5, 10, srcGB50493Toxic), Units: []UnitOption{ppm(64.07, 0, 100, 0.5)}},
		// Plants report a tank level in metres or in % of the gauge's
		// span (GB 50074 §15.1 speaks of levels, not units); the % has no
		// fixed relation to metres, so its limits come from the registry.
		Kind{ID: "tank_level", Name: "Tank liquid level", Unit: "m", Min: 0, Max: 40, Deadband: 0.05, Interval: 10 * s, Sectors: hz,
			Units: []UnitOption{{Unit: "%", Min: 0, Max: 100, Deadband: 0.5}}},
		Kind{ID: "tank_temperature", Name: "Tank temperature", Unit: "degC", Min: -50, Max: 300, Deadband: 1, Interval: 10 * s, Sectors: hz,
			Units: []UnitOption{kelvin(-50, 300, 1)}},
		Kind{ID: "pressure", Name: "Vessel or line pressure", Unit: "MPa", Min: 0, Max: 40, Deadband: 0.02, Interval: 5 * s, Sectors: []Sector{SectorHazchem, SectorPipeline, SectorUrbanGas},
			Units: []UnitOption{kilo(0, 40, 0.02)}},
		Kind{ID: "flow", Name: "Flow", Unit: "m3/h", Min: 0, Max: 100000, Deadband: 10, Interval: 5 * s, Sectors: []Sector{SectorHazchem, SectorPipeline}},

		// Coal mines (KJ monitoring systems). CH4 defaults are the working
		// face T1 row: alarm at 1.0 %, power cut at 1.5 %, restore below
		// 1.0 %. Other location roles set their own in the registry.
		Kind{ID: "ch4", Name: "Methane (coal mine)", Unit: "%CH4", Min: 0, Max: 100, Deadband: 0.1, Interval: 10 * s, Sectors: coal,
			Setpoints: []Setpoint{
				{Level: LevelOrange, Direction: Above, Value: 1.0, Clear: 1.0, Source: srcCoalCH4},
				{Level: LevelRed, Direction: Above, Value: 1.5, Clear: 1.0, Source: srcCoalCH4},
			}},
		Kind{ID: "co_mine", Name: "Carbon monoxide (mine)", Unit: "ppm", Min: 0, Max: 1000, Deadband: 2, Interval: 10 * s, Sectors: []Sector{SectorCoal, SectorNonCoal},
			Setpoints: []Setpoint{{Level: LevelOrange, Direction: Above, Value: 24, Source: srcCoalRules}},
			Note: "one level only: the coal mine safety regulations give a maximum allowed concentration (24 ppm), not an alarm pair; " +
				"GB/T 50493's second level (200 % of the exposure limit) is for process plants. A mine whose plan sets a second level adds it in the registry",
			NoteZH: "仅一级：《煤矿安全规程》只规定最高允许浓度 24 ppm，未分两级；GB/T 50493 的二级（职业接触限值的 200%）适用于石油化工装置。矿井预案另设二级的，在登记表中按测点添加"},
		Kind{ID: "o2_mine", Name: "Oxygen in intake air (mine)", Unit: "%VOL", Aliases: vol, Min: 0, Max: 25, Deadband: 0.3, Interval: 10 * s, Sectors: []Sector{SectorCoal, SectorNonCoal},
			Setpoints: []Setpoint{{Level: LevelOrange, Direction: Below, Value: 20, Source: srcCoalRules}},
			Note: "alarm below 20 %VOL, not GB/T 50493's 19.5: the coal mine safety regulations require intake air of at least 20 % oxygen, " +
				"so the coal rule is kept on purpose. One level only: the regulations give no second",
			NoteZH: "低于 20%VOL 报警，而非 GB/T 50493 的 19.5%VOL：《煤矿安全规程》要求采掘工作面进风流中氧气浓度不低于 20%，故有意沿用煤矿规定；规程未给出二级"},
		Kind{ID: "co2_mine", Name: "Carbon dioxide in intake air (mine)", Unit: "%VOL", Aliases: vol, Min: 0, Max: 5, Deadband: 0.05, Interval: 10 * s, Sectors: coal,
			Setpoints: []Setpoint{{Level: LevelOrange, Direction: Above, Value: 0.5, Source: srcCoalRules}}},
		Kind{ID: "wind_speed", Name: "Air speed (mine)", Unit: "m/s", Min: 0, Max: 15, Deadband: 0.05, Interval: 10 * s, Sectors: []Sector{SectorCoal, SectorNonCoal},
			Setpoints: []Setpoint{
				{Level: LevelOrange, Direction: Below, Value: 0.25, Source: srcCoalWind},
				{Level: LevelOrange, Direction: Above, Value: 4, Source: srcCoalWind},
			}},
		Kind{ID: "mine_temperature", Name: "Air temperature (mine)", Unit: "degC", Min: -20, Max: 60, Deadband: 0.5, Interval: 10 * s, Sectors: coal,
			Setpoints: []Setpoint{{Level: LevelOrange, Direction: Above, Value: 26, Source: srcCoalTemp}},
			Units:     []UnitOption{kelvin(-20, 60, 0.5)}},
		Kind{ID: "dust", Name: "Dust concentration (mine)", Unit: "mg/m3", Min: 0, Max: 1000, Deadband: 1, Interval: 10 * s, Sectors: coal},

		// Non-coal mines and tailings ponds: limits are the pond's design.
		Kind{ID: "pond_water_level", Name: "Tailings pond water level", Unit: "m", Min: 0, Max: 2000, Deadband: 0.05, Interval: 10 * time.Minute, Sectors: tail},
		Kind{ID: "dry_beach_length", Name: "Dry beach length", Unit: "m", Min: 0, Max: 2000, Deadband: 1, Interval: 10 * time.Minute, Sectors: tail},
		Kind{ID: "phreatic_depth", Name: "Phreatic line burial depth", Unit: "m", Min: 0, Max: 200, Deadband: 0.1, Interval: 10 * time.Minute, Sectors: tail},
		Kind{ID: "dam_displacement", Name: "Dam displacement", Unit: "mm", Min: -2000, Max: 2000, Deadband: 1, Interval: 10 * time.Minute, Sectors: tail},
		Kind{ID: "rainfall", Name: "Rainfall", Unit: "mm", Min: 0, Max: 1000, Deadband: 1, Interval: 10 * time.Minute, Sectors: tail},

		// Pipelines and urban gas.
		Kind{ID: "line_pressure", Name: "Gas network line pressure", Unit: "MPa", Min: 0, Max: 10, Deadband: 0.005, Interval: 5 * s, Sectors: pipe,
			Units: []UnitOption{kilo(0, 10, 0.005)}},
		Kind{ID: "tunnel_gas", Name: "Utility-tunnel gas compartment, combustible gas", Unit: "%LEL", Min: 0, Max: 100, Deadband: 2, Interval: 5 * s, Sectors: []Sector{SectorUrbanGas},
			Setpoints: twoLevel(Above, 20, 25, srcUtilityTunnel)},
		Kind{ID: "manhole_tilt", Name: "Manhole cover tilt", Unit: "deg", Min: 0, Max: 90, Deadband: 1, Interval: 60 * s, Sectors: []Sector{SectorUrbanGas},
			Setpoints: []Setpoint{{Level: LevelOrange, Direction: Above, Value: 10, Source: srcManholeVendor}}},
	)
}
