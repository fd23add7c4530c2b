package sensors

import "fmt"

// Sector is the industry a site belongs to; the work-safety campaign
// supervises each one under its own standards.
type Sector string

// Sectors riskmon knows.
const (
	SectorHazchem  Sector = "hazchem"  // hazardous chemicals, major hazard sources (危险化学品重大危险源)
	SectorCoal     Sector = "coal"     // coal mines (煤矿)
	SectorNonCoal  Sector = "noncoal"  // non-coal mines and tailings ponds (非煤矿山/尾矿库)
	SectorPipeline Sector = "pipeline" // oil and gas pipelines (油气管道)
	SectorUrbanGas Sector = "urbangas" // urban gas networks and underground space (城镇燃气)
)

// Sectors lists every sector in a stable order.
func Sectors() []Sector {
	return []Sector{SectorHazchem, SectorCoal, SectorNonCoal, SectorPipeline, SectorUrbanGas}
}

// ParseSector accepts a sector's identifier.
func ParseSector(s string) (Sector, error) {
	for _, sec := range Sectors() {
		if string(sec) == s {
			return sec, nil
		}
	}
	return "", fmt.Errorf("unknown sector %q (want one of hazchem, coal, noncoal, pipeline, urbangas)", s)
}
