package simulator

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// Truth is the ground truth of a scenario run: what was scripted and when
// each setpoint was crossed, in device time. It is written as JSON lines,
// a "run" record first and one "incident" record per incident, so a
// scorer can read it without the scenario file.
type Truth struct {
	Run       TruthRun
	Incidents []TruthIncident
}

// TruthRun describes the run as a whole.
type TruthRun struct {
	Type     string    `json:"type"` // "run"
	Scenario string    `json:"scenario"`
	Seed     int64     `json:"seed"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Interval float64   `json:"interval_s"`
	// WallStart and Speed pace device time against the wall clock:
	// device time Start was published at WallStart, and device time ran
	// Speed times faster. riskmon stamps condition alerts (a gateway
	// going offline) with its own clock; these map them back to device
	// time. Speed 0 means unknown or unpaced.
	WallStart time.Time `json:"wall_start,omitzero"`
	Speed     float64   `json:"speed,omitempty"`
	// Sensors is the fleet's size; with End − Start it gives the
	// sensor-hours false alerts are counted against.
	Sensors int `json:"sensors"`
}

// DeviceTime maps a wall-clock time of the run to device time; ok is
// false when the run was not paced.
func (r TruthRun) DeviceTime(wall time.Time) (time.Time, bool) {
	if r.Speed <= 0 || r.WallStart.IsZero() {
		return time.Time{}, false
	}
	return r.Start.Add(time.Duration(float64(wall.Sub(r.WallStart)) * r.Speed)), true
}

// SensorHours is how many sensor-hours the run covers.
func (r TruthRun) SensorHours() float64 {
	return float64(r.Sensors) * r.End.Sub(r.Start).Hours()
}

// TruthIncident is one scripted incident.
type TruthIncident struct {
	Type  string    `json:"type"` // "incident"
	ID    string    `json:"id"`
	Kind  string    `json:"kind"`
	Onset time.Time `json:"onset"`
	End   time.Time `json:"end"`
	// Sensors are the sensors the incident touches; alerts on them are
	// its detections, never false alerts.
	Sensors []SensorRef `json:"sensors"`
	// Gateways are the gateways a gateway fault acts on; condition
	// alerts on them are its detections.
	Gateways []GatewayRef `json:"gateways,omitempty"`
	// Crossings are the first time the noise-free value of each affected
	// sensor reaches each of its setpoints, in time order.
	Crossings []TruthCrossing `json:"crossings,omitempty"`
	Target    *TruthTarget    `json:"target,omitempty"`
}

// FirstCrossing is the earliest setpoint crossing, if any.
func (t TruthIncident) FirstCrossing() (TruthCrossing, bool) {
	if len(t.Crossings) == 0 {
		return TruthCrossing{}, false
	}
	return t.Crossings[0], true
}

// TruthCrossing is one sensor reaching one setpoint.
type TruthCrossing struct {
	Site      string        `json:"site"`
	Sensor    string        `json:"sensor"`
	Level     sensors.Level `json:"level"`
	Direction string        `json:"direction"`
	Setpoint  float64       `json:"setpoint"`
	At        time.Time     `json:"at"`
}

// TruthTarget is what detecting the incident must achieve.
type TruthTarget struct {
	// MaxLevel is the least severe level the alerts must reach (1 red
	// … 4 blue); 0 means any level.
	MaxLevel sensors.Level `json:"max_level,omitempty"`
	// MinLeadSeconds is the least lead time of the first alert before
	// the first setpoint crossing; negative allows that much delay.
	MinLeadSeconds *float64 `json:"min_lead_s,omitempty"`
	// Rule, when set, is the rule one of the incident's alerts must
	// come from.
	Rule string `json:"rule,omitempty"`
}

// crossingStep is the scan resolution of ground truth before bisection;
// shapes are smooth apart from spikes, which last at least this long in
// practice.
const crossingStep = 100 * time.Millisecond

// crossingsOf finds when the noise-free value of ref under inc first trips
// each setpoint that its level at the incident's start does not; level is
// the sensor's noise-free signal (Signal.Level).
func crossingsOf(inc Incident, ref SensorRef, level func(time.Duration) float64, sps []sensors.Setpoint) []time.Duration {
	start, end := inc.Span()
	value := func(t time.Duration) (float64, bool) {
		l := level(t)
		v, ok := inc.Apply(ref, t, l, l)
		return v, ok && !math.IsNaN(v)
	}
	out := make([]time.Duration, len(sps))
	for i, sp := range sps {
		out[i] = -1
		if sp.Trips(level(start)) {
			continue
		}
		lo := start - crossingStep // before the start the value is the level
		for t := start; t < end; t += crossingStep {
			v, ok := value(t)
			if !ok || !sp.Trips(v) {
				lo = t
				continue
			}
			hi := t
			for hi-lo > time.Millisecond {
				mid := lo + (hi-lo)/2
				if v, ok := value(mid); ok && sp.Trips(v) {
					hi = mid
				} else {
					lo = mid
				}
			}
			out[i] = hi
			break
		}
	}
	return out
}

// NamedIncident is an incident with the id and kind name a scenario gives it.
type NamedIncident struct {
	ID, Kind string
	Incident Incident
	Target   *TruthTarget
}

// BuildTruth computes the ground truth of incidents played on fleet from
// device time start for d.
func BuildTruth(fleet Fleet, cat *sensors.Catalog, scenario string, seed int64, start time.Time, d, interval time.Duration, incidents []NamedIncident) (*Truth, error) {
	if cat == nil {
		cat = sensors.DefaultCatalog()
	}
	reg, err := fleet.Registry(cat)
	if err != nil {
		return nil, err
	}
	tr := &Truth{Run: TruthRun{Type: "run", Scenario: scenario, Seed: seed, Start: start.UTC(), End: start.Add(d).UTC(),
		Interval: interval.Seconds(), Sensors: reg.Len()}}
	gateways := fleet.Gateways()
	for _, ni := range incidents {
		inc := ni.Incident
		s, e := inc.Span()
		ti := TruthIncident{Type: "incident", ID: ni.ID, Kind: ni.Kind, Onset: start.Add(s).UTC(), End: start.Add(e).UTC(), Target: ni.Target}
		ti.Sensors = inc.Sensors()
		if gi, ok := inc.(GatewayIncident); ok {
			ref := gi.Gateway()
			ti.Gateways = append(ti.Gateways, ref)
			// An outage silences the gateway's sensors, so alerts on them
			// (stale data) are its doing; a skewed clock leaves their
			// values alone and explains no alert on them.
			for _, g := range gateways {
				if gi.Offline(s) && g.Site == ref.Site && g.ID == ref.Gateway {
					for _, id := range g.Sensors {
						ti.Sensors = append(ti.Sensors, SensorRef{g.Site, id})
					}
				}
			}
		}
		for _, ref := range inc.Sensors() {
			sn, ok := reg.Lookup(ref.Site, ref.Sensor)
			if !ok {
				return nil, fmt.Errorf("simulator truth: incident %s: unknown sensor %s", ni.ID, ref)
			}
			sig, err := fleet.Signal(sn, seed)
			if err != nil {
				return nil, err
			}
			sig.SetStart(start)
			sps := sn.KindInfo().Resolve(sn.EffectiveSetpoints())
			for i, at := range crossingsOf(inc, ref, sig.Level, sps) {
				if at < 0 {
					continue
				}
				ti.Crossings = append(ti.Crossings, TruthCrossing{Site: ref.Site, Sensor: ref.Sensor, Level: sps[i].Level,
					Direction: sps[i].Direction.String(), Setpoint: sps[i].Value, At: start.Add(at).UTC()})
			}
		}
		slices.SortStableFunc(ti.Crossings, func(a, b TruthCrossing) int { return a.At.Compare(b.At) })
		tr.Incidents = append(tr.Incidents, ti)
	}
	return tr, nil
}

// WriteJSONL writes the truth as JSON lines.
func (t *Truth) WriteJSONL(w io.Writer) error {
	enc := json.NewEncoder(w)
	if err := enc.Encode(t.Run); err != nil {
		return err
	}
	for _, inc := range t.Incidents {
		if err := enc.Encode(inc); err != nil {
			return err
		}
	}
	return nil
}

// ReadTruth reads what WriteJSONL wrote.
func ReadTruth(r io.Reader) (*Truth, error) {
	t := &Truth{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	line, haveRun := 0, false
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(b, &head); err != nil {
			return nil, fmt.Errorf("truth line %d: %w", line, err)
		}
		switch head.Type {
		case "run":
			if err := json.Unmarshal(b, &t.Run); err != nil {
				return nil, fmt.Errorf("truth line %d: %w", line, err)
			}
			haveRun = true
		case "incident":
			var inc TruthIncident
			if err := json.Unmarshal(b, &inc); err != nil {
				return nil, fmt.Errorf("truth line %d: %w", line, err)
			}
			t.Incidents = append(t.Incidents, inc)
		default:
			return nil, fmt.Errorf("truth line %d: unknown record type %q", line, head.Type)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !haveRun {
		return nil, errors.New("truth: no run record")
	}
	return t, nil
}
