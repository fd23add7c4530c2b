package alerting

import (
	"math"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// ColdSensor is a sensor whose windowed rules have nothing recent to
// look at: no sample since Since. Warming it from stored history spares
// its trend, forecast, rate and stuck rules a blind first window.
type ColdSensor struct {
	Site, Sensor string
	Kind         sensors.KindID
	// Since is the start of the sensor's longest look-back: the oldest
	// device time a warm-up reading is of use. Zero when only the
	// exposure is cold.
	Since time.Time
	// ExposureSince is set when the sensor has exposure rules and no
	// exposure data: the start of the 8-hour window to rebuild with
	// WarmExposure.
	ExposureSince time.Time
}

// Cold lists the sensors with a rate, trend, forecast or stuck rule that
// have no evaluated reading (live, warmed or restored) within their
// longest window before now, and those with exposure rules and no
// exposure data.
func (e *Engine) Cold(now time.Time) []ColdSensor {
	var out []ColdSensor
	n := now.UnixNano()
	set := e.rules()
	for _, sh := range set.shards {
		sh.mu.Lock()
		for _, s := range sh.subjects {
			c := ColdSensor{Site: s.site, Sensor: s.sensor, Kind: s.kind}
			back := s.lookback()
			if back > 0 && !(s.evaluated && s.last >= n-back && (s.win == nil || s.win.n > 0)) {
				c.Since = unixTime(n - back)
			}
			if s.exp != nil && s.exp.prevAt == 0 {
				c.ExposureSince = unixTime(n - int64(twaWindow))
			}
			if !c.Since.IsZero() || !c.ExposureSince.IsZero() {
				out = append(out, c)
			}
		}
		sh.mu.Unlock()
	}
	return out
}

// WarmExposure credits a stored aggregate to a sensor's exposure rings:
// readings averaging mean over covered of time, in the interval ending at
// device time end (aggregates of at most one minute, so that each falls
// in one 15-minute-average bucket). Aggregates must come oldest first and
// before any Warm of the sensor; one not after the sensor's newest
// exposure data is ignored. No alert is stepped: the averages are judged
// on the next live reading. It reports whether the aggregate was taken.
func (e *Engine) WarmExposure(site, sensor string, end time.Time, mean float64, covered time.Duration) bool {
	_, s := e.lock(site, sensor)
	if s == nil {
		return false
	}
	defer s.shard.mu.Unlock()
	x := s.exp
	at := end.UnixNano()
	if x == nil || math.IsNaN(mean) || math.IsInf(mean, 0) || covered <= 0 || at <= x.prevAt {
		return false
	}
	x.credit(mean, covered.Seconds(), at)
	return true
}

// lookback is the longest window of the sensor's windowed and stuck
// rules, in ns; 0 when it has none.
func (s *subject) lookback() int64 {
	var back int64
	for _, rs := range s.early {
		if rs.rule.windowed() || rs.rule.kind == kindStuck {
			back = max(back, rs.rule.window)
		}
	}
	return back
}

// Warm feeds a stored reading into its sensor's windows, exposure rings
// and flat-line count without stepping any alert: no event is emitted and
// no alert changes. Readings must come oldest first; bad and NaN ones
// are ignored. A reading newer than the sensor's last evaluated one
// feeds everything and counts as seen, so a live reading older than it is
// out of order. An older one (the sensor's alert state was restored
// without its window) feeds only the window, if it is newer than the
// window's newest sample. It reports whether the reading was taken.
func (e *Engine) Warm(r sensors.Reading) bool {
	_, s := e.lockReading(&r)
	if s == nil {
		return false
	}
	defer s.shard.mu.Unlock()
	if r.Quality == sensors.QualityBad || math.IsNaN(r.Value) {
		return false
	}
	at := r.Time.UnixNano()
	took := false
	if w := s.win; w != nil && (w.n == 0 || at > w.back(0).at) {
		w.push(at, r.Value)
		took = true
		for i := range s.early {
			if r := s.early[i].rule; r.kind == kindForecast {
				// The forecast learns the sensor's noise from history too.
				w.rampSince(at-r.window, r.minSamples)
			}
		}
	}
	if s.evaluated && at <= s.last {
		return took
	}
	s.last, s.evaluated = at, true
	if s.exp != nil && at > s.exp.prevAt {
		s.exp.add(r.Value, at)
	}
	for i := range s.early {
		rs := &s.early[i]
		switch rs.rule.kind {
		case kindStuck:
			// The flat-line count carries on from history: a sensor
			// frozen before the start is still frozen.
			rs.st, _ = rs.rule.want(rs.st, s.win, r.Value, at)
		case kindJump:
			// Only the previous value: a jump in history is not one now.
			if rs.st.count < math.MaxUint32 {
				rs.st.count++
			}
			rs.st.mark = 0
		default:
			continue
		}
		rs.st.value = r.Value
	}
	return true
}
