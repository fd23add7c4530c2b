package replay

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// CSV is readings from a CSV file with the columns site, sensor, time,
// value and an optional quality (good, uncertain, bad; default good),
// with or without a header row naming them. Time is RFC 3339 or epoch
// milliseconds, as on the wire; an empty value is a reading without a
// number. Exports are often grouped by sensor rather than by time, so
// the file is read whole and sorted: about 100 bytes a reading.
type CSV struct {
	Name string
	R    io.Reader
}

// Readings parses the file, reporting every bad row with its line as a
// *sensors.LoadError, then yields the readings in time order.
func (c CSV) Readings(ctx context.Context, fn func(sensors.Reading) error) error {
	rs, err := c.read()
	if err != nil {
		return err
	}
	for _, r := range rs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// maxProblems bounds the problems reported for one file: a file in the
// wrong format would otherwise give one per line.
const maxProblems = 50

func (c CSV) read() ([]sensors.Reading, error) {
	cr := csv.NewReader(c.R)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	var out []sensors.Reading
	var probs []sensors.Problem
	bad := func(line int, format string, a ...any) {
		probs = append(probs, sensors.Problem{File: c.Name, Line: line, Msg: fmt.Sprintf(format, a...)})
	}
	for row := 0; len(probs) < maxProblems; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad(pe.Line, "%v", pe.Err)
				continue
			}
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		line, _ := cr.FieldPos(0)
		if row == 0 && strings.EqualFold(strings.TrimPrefix(rec[0], "\ufeff"), "site") {
			continue // header
		}
		if len(rec) < 4 || len(rec) > 5 {
			bad(line, "want site,sensor,time,value[,quality], got %d columns", len(rec))
			continue
		}
		r := sensors.Reading{Site: strings.TrimPrefix(rec[0], "\ufeff"), Sensor: rec[1], Value: math.NaN()}
		good := true
		if r.Site == "" || r.Sensor == "" {
			bad(line, "site and sensor must not be empty")
			good = false
		}
		if t, err := ParseTime(rec[2]); err != nil {
			bad(line, "time %q: %v", rec[2], err)
			good = false
		} else {
			r.Time = t
		}
		if v := strings.TrimSpace(rec[3]); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				bad(line, "value %q is not a number", rec[3])
				good = false
			}
			r.Value = f
		}
		if len(rec) == 5 && rec[4] != "" {
			q, err := sensors.ParseQuality(rec[4])
			if err != nil {
				bad(line, "%v", err)
				good = false
			}
			r.Quality = q
		}
		if good {
			out = append(out, r)
		}
	}
	if len(probs) > 0 {
		return nil, &sensors.LoadError{Problems: probs}
	}
	sortReadings(out)
	return out, nil
}

// sortReadings orders by device time, then site and sensor, the order
// the InfluxDB source yields.
func sortReadings(rs []sensors.Reading) {
	slices.SortStableFunc(rs, func(a, b sensors.Reading) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Site, b.Site), cmp.Compare(a.Sensor, b.Sensor))
	})
}

// ParseTime reads a time as CSV files and the command line give it:
// RFC 3339 or epoch milliseconds, in UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errors.New("want RFC 3339 (2026-11-28T16:00:00Z) or epoch milliseconds")
	}
	return t.UTC(), nil
}
