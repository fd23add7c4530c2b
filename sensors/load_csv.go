package sensors

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// LoadCSV reads a registry from CSV, the form a plant's DCS spreadsheet
// exports for big fleets, checked against cat; name is the file name
// problems are reported under.
//
// The first row names the columns, in any order and any case:
// site, site_name, sector, sensor, kind, unit, gateway, sparkplug (the
// Sensor.Sparkplug address), location, role,
// and optionally l1 and l2, the first- and second-level alarm values
// (orange and red), direction (above, the default, or below) and source,
// where the values come from. site, sector, sensor, kind and gateway are
// required. Each row is one sensor; sites are gathered from the rows, and
// every row of a site must agree on its sector and name. Ids and values
// follow the rules of LoadYAML. Cells are trimmed of spaces, rows of empty
// cells skipped, and a UTF-8 byte order mark, which Excel writes, too.
// Problems come back as a *LoadError; a read error is returned as is.
func LoadCSV(cat *Catalog, name string, r io.Reader) (*Registry, error) {
	br := bufio.NewReader(r)
	if b, err := br.Peek(len(utf8BOM)); err == nil && string(b) == utf8BOM {
		_, _ = br.Discard(len(utf8BOM))
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	l := newLoader(cat, name)
	var header []string
	badUTF8 := false
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			l.addf(pe.Line, "%v", pe.Err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if !validUTF8(rec) {
			// Excel in a Chinese locale saves "CSV" in GBK: one problem
			// says so, a thousand would bury it.
			if !badUTF8 {
				l.addf(line, "not UTF-8 text: save the sheet as \"CSV UTF-8\" (GBK and other code pages are not supported)")
				badUTF8 = true
			}
			continue
		}
		if header == nil {
			var ok bool
			if header, ok = l.csvHeader(line, rec); !ok {
				return l.finish()
			}
			continue
		}
		l.csvRow(header, line, rec)
	}
	if header == nil && len(l.problems) == 0 {
		l.addf(1, "empty file: want a header row naming the columns")
	}
	return l.finish()
}

const utf8BOM = "\uFEFF"

func validUTF8(rec []string) bool {
	for _, f := range rec {
		if !utf8.ValidString(f) {
			return false
		}
	}
	return true
}

// csvColumns are the columns LoadCSV knows, required ones first.
func csvColumns() []string {
	return []string{"site", "sector", "sensor", "kind", "gateway",
		"site_name", "unit", "sparkplug", "location", "role", "l1", "l2", "direction", "source"}
}

const csvRequired = 5

// csvHeader reads the header row into one lower-case column name a field,
// "" for a column to ignore. It reports false when a required column is
// missing, as every row would then repeat the problem.
func (l *loader) csvHeader(line int, rec []string) ([]string, bool) {
	known := csvColumns()
	header := make([]string, len(rec))
	for i, h := range rec {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case h == "":
		case !slices.Contains(known, h):
			l.addf(line, "unknown column %q (want %s)", h, strings.Join(known, ", "))
		case slices.Contains(header[:i], h):
			l.addf(line, "column %q given twice", h)
		default:
			header[i] = h
		}
	}
	ok := true
	for _, c := range known[:csvRequired] {
		if !slices.Contains(header, c) {
			l.addf(line, "missing column %q", c)
			ok = false
		}
	}
	return header, ok
}

func (l *loader) csvRow(header []string, line int, rec []string) {
	row := make(map[string]string, len(header))
	blank := true
	for i, v := range rec {
		v = strings.TrimSpace(v)
		blank = blank && v == ""
		switch {
		case i < len(header) && header[i] != "":
			row[header[i]] = v
		case i >= len(header) && v != "":
			l.addf(line, "field %d is past the header's %d columns", i+1, len(header))
		}
	}
	// Spreadsheets export trailing rows of empty cells.
	if blank {
		return
	}
	site := Site{ID: row["site"], Name: row["site_name"]}
	l.ident(line, "site id", site.ID)
	l.text(line, "site name", site.Name)
	site.Sector = l.sector(line, row["sector"])
	l.csvSite(line, site)

	s := Sensor{ID: row["sensor"], Site: site.ID, Kind: KindID(row["kind"]),
		Gateway: row["gateway"], Sparkplug: row["sparkplug"], Location: row["location"], Role: row["role"]}
	l.ident(line, "sensor id", s.ID)
	l.ident(line, "gateway", s.Gateway)
	if s.Sparkplug != "" {
		l.sparkplug(line, s.Sparkplug)
	}
	l.text(line, "location", s.Location)
	l.text(line, "role", s.Role)
	k := l.kind(line, row["kind"])
	if ku := l.unit(line, k, row["unit"]); ku != k {
		s.Unit, k = row["unit"], ku
	}
	dir, _ := l.direction(line, row["direction"])
	l.text(line, "source", row["source"])
	// l1 and l2 are the instrument's two alarm levels, mapped as the
	// catalog's twoLevel maps the defaults.
	for _, c := range []struct {
		col   string
		level Level
	}{{"l1", LevelOrange}, {"l2", LevelRed}} {
		if row[c.col] == "" {
			continue
		}
		if v, ok := l.number(line, c.col, row[c.col]); ok {
			l.inRange(line, k, c.col, v)
			s.Setpoints = append(s.Setpoints, Setpoint{Level: c.level, Direction: dir, Value: v, Source: row["source"]})
		}
	}
	l.setpoints(s.Setpoints, []int{line, line})
	l.addSensor(line, s)
}

// csvSite registers the site of a row, or checks the row agrees with the
// rows before it about the site's sector and name.
func (l *loader) csvSite(line int, s Site) {
	i, seen := l.siteAt[s.ID]
	if !seen {
		l.addSite(line, s)
		return
	}
	e := &l.sites[i]
	switch {
	case s.Sector == "":
	case e.Sector == "":
		e.Sector = s.Sector
	case s.Sector != e.Sector:
		l.addf(line, "site %q is in sector %s here but %s at line %d", s.ID, s.Sector, e.Sector, e.line)
	}
	switch {
	case s.Name == "":
	case e.Name == "":
		e.Name, e.nameLine = s.Name, line
	case s.Name != e.Name:
		l.addf(line, "site %q is named %q here but %q at line %d", s.ID, s.Name, e.Name, e.nameLine)
	}
}
