package simulator

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// AlertEvent is the part of riskmon's alert event (GET /api/events) that
// scoring needs. It is decoded on its own rather than imported so the
// scorer reads saved files of any riskmon version.
type AlertEvent struct {
	AlertID string        `json:"alert_id"`
	Rule    string        `json:"rule"`
	Site    string        `json:"site"`
	Sensor  string        `json:"sensor"`
	Type    string        `json:"type"`
	Level   sensors.Level `json:"level"`
	At      time.Time     `json:"at"`
	Message string        `json:"message"`
	// Due is when a forecast said its setpoint would be reached.
	Due time.Time `json:"due,omitzero"`
}

// ReadAlertEvents decodes a JSON array of alert events.
func ReadAlertEvents(r io.Reader) ([]AlertEvent, error) {
	var evs []AlertEvent
	if err := json.NewDecoder(r).Decode(&evs); err != nil {
		return nil, fmt.Errorf("alert events: %w", err)
	}
	return evs, nil
}

// wallClockRules are riskmon's alerts stamped with its own clock, when it
// noticed, rather than with a reading's device time: the conditions of
// the monitoring itself and sensor_stale, which fires on silence.
var wallClockRules = []string{"gateway_offline", "data_loss", "storage_backlog", "sensor_stale", "gateway_clock_skew"}

// gatewayRules are the alerts whose subject (the event's sensor field) is
// a gateway.
var gatewayRules = []string{"gateway_offline", "data_loss", "gateway_clock_skew"}

func isWallClock(ev AlertEvent) bool { return slices.Contains(wallClockRules, ev.Rule) }
func isGateway(ev AlertEvent) bool   { return slices.Contains(gatewayRules, ev.Rule) }

// ScoreOptions tune the matching of alerts to incidents.
type ScoreOptions struct {
	// Grace widens each incident's window on both sides: an alert that
	// fires this long before its onset or after its end still counts
	// for it. Zero means one minute.
	Grace time.Duration
}

// IncidentScore is how the alerting did on one incident.
type IncidentScore struct {
	ID, Kind string
	Detected bool
	// First is the earliest alert fired for the incident.
	First AlertEvent
	// Best is the most severe level any of its alerts reached.
	Best sensors.Level
	// Lead is the time from the first alert to the first setpoint
	// crossing: positive is early warning, negative late. HasLead is
	// false when the incident crosses no setpoint or was detected only
	// by a condition alert, whose time is not device time.
	Lead    time.Duration
	HasLead bool
	// Delay is the time from the incident's onset to its first alert,
	// for faults that cross no setpoint; HasDelay is false when the
	// alert's device time is unknown.
	Delay    time.Duration
	HasDelay bool
	Alerts   int
	// Rules are the rules of the incident's fired alerts, in order of
	// first firing.
	Rules  []string
	Target *TruthTarget
	// Met is false when the incident has a target and missed it; Why
	// says how.
	Met bool
	Why string
}

// Score is the result of a run.
type Score struct {
	Scenario    string
	Incidents   []IncidentScore
	FalseAlerts int
	// False are the fired events no incident explains.
	False       []AlertEvent
	SensorHours float64
	// Missed counts incidents whose target was not met.
	Missed int
}

// FalsePer1000 is the false-alert rate per 1,000 sensor-hours.
func (s Score) FalsePer1000() float64 {
	if s.SensorHours == 0 {
		return 0
	}
	return float64(s.FalseAlerts) / s.SensorHours * 1000
}

// ScoreRun matches alert events to the truth of a run. An alert fired on
// an affected sensor within an incident's window, or a condition alert on
// a gateway it scripts, detects it; a fired alert that no incident
// explains is false.
//
// Condition alerts and sensor_stale carry riskmon's own clock, which the
// run's pacing maps back to device time. Those from the run's last
// interval on are the simulator signing off ("offline" from every gateway
// as it stops, then silence) and are ignored. Without pacing (speed
// unknown or infinite) such an alert can only be matched by its subject
// and is never counted false.
func ScoreRun(t *Truth, events []AlertEvent, o ScoreOptions) Score {
	grace := o.Grace
	if grace == 0 {
		grace = time.Minute
	}
	evs := timedEvents(t.Run, events, grace)
	sc := Score{Scenario: t.Run.Scenario, SensorHours: t.Run.SensorHours()}
	explained := map[string]bool{} // alert ids matched to an incident
	for _, inc := range t.Incidents {
		is := scoreIncident(inc, evs, grace, explained)
		if !is.Met {
			sc.Missed++
		}
		sc.Incidents = append(sc.Incidents, is)
	}
	for _, ev := range evs {
		if ev.Type == "fired" && ev.known && !explained[ev.AlertID] {
			sc.FalseAlerts++
			sc.False = append(sc.False, ev.AlertEvent)
		}
	}
	return sc
}

// timedEvent is an alert event with its device time, when it has one.
type timedEvent struct {
	AlertEvent
	dev   time.Time
	known bool
}

// timedEvents keeps the fired and escalated events that may belong to
// the run, in device time order, leaving out the simulator's sign-off.
func timedEvents(run TruthRun, events []AlertEvent, grace time.Duration) []timedEvent {
	signOff := run.End.Add(-time.Duration(run.Interval * float64(time.Second)))
	var evs []timedEvent
	for _, ev := range events {
		if ev.Type != "fired" && ev.Type != "escalated" {
			continue
		}
		te := timedEvent{AlertEvent: ev, dev: ev.At, known: true}
		if isWallClock(ev) {
			te.dev, te.known = run.DeviceTime(ev.At)
			if te.known && !te.dev.Before(signOff) {
				continue
			}
		}
		if te.known && (te.dev.Before(run.Start.Add(-grace)) || te.dev.After(run.End.Add(grace))) {
			continue
		}
		evs = append(evs, te)
	}
	slices.SortStableFunc(evs, func(a, b timedEvent) int { return a.dev.Compare(b.dev) })
	return evs
}

// scoreIncident judges one incident by the events on its sensors or
// gateways within its window, marking those events explained.
func scoreIncident(inc TruthIncident, evs []timedEvent, grace time.Duration, explained map[string]bool) IncidentScore {
	is := IncidentScore{ID: inc.ID, Kind: inc.Kind, Target: inc.Target, Met: true}
	from, to := inc.Onset.Add(-grace), inc.End.Add(grace)
	var first timedEvent
	for _, ev := range evs {
		var match bool
		if isGateway(ev.AlertEvent) {
			match = slices.Contains(inc.Gateways, GatewayRef{ev.Site, ev.Sensor})
		} else {
			match = slices.Contains(inc.Sensors, SensorRef{ev.Site, ev.Sensor})
		}
		if !match || (ev.known && (ev.dev.Before(from) || ev.dev.After(to))) {
			continue
		}
		explained[ev.AlertID] = true
		if ev.Type == "fired" {
			is.Alerts++
			if !slices.Contains(is.Rules, ev.Rule) {
				is.Rules = append(is.Rules, ev.Rule)
			}
			if !is.Detected {
				is.Detected, is.First = true, ev.AlertEvent
				first = ev
			}
		}
		if ev.Level != sensors.LevelNone && (is.Best == sensors.LevelNone || ev.Level.MoreSevere(is.Best)) {
			is.Best = ev.Level
		}
	}
	if is.Detected && first.known {
		is.Delay, is.HasDelay = first.dev.Sub(inc.Onset), true
		if c, ok := inc.FirstCrossing(); ok {
			is.Lead, is.HasLead = c.At.Sub(first.dev), true
		}
	}
	judge(&is, inc)
	return is
}

// judge checks an incident's score against its target.
func judge(is *IncidentScore, inc TruthIncident) {
	tg := inc.Target
	if tg == nil {
		return
	}
	var why []string
	if !is.Detected {
		why = append(why, "not detected")
	} else {
		if tg.MaxLevel != sensors.LevelNone && (is.Best == sensors.LevelNone || tg.MaxLevel.MoreSevere(is.Best)) {
			why = append(why, fmt.Sprintf("reached level %d, want ≤ %d", is.Best, tg.MaxLevel))
		}
		if tg.Rule != "" && !slices.Contains(is.Rules, tg.Rule) {
			why = append(why, fmt.Sprintf("no %s alert (raised: %s)", tg.Rule, strings.Join(is.Rules, ", ")))
		}
		if tg.MinLeadSeconds != nil {
			want := time.Duration(*tg.MinLeadSeconds * float64(time.Second))
			switch {
			case !is.HasLead:
				why = append(why, "no lead time to check (no setpoint crossing or only a condition alert)")
			case is.Lead < want:
				why = append(why, fmt.Sprintf("lead %s, want ≥ %s", is.Lead.Round(time.Millisecond), want))
			}
		}
	}
	is.Met, is.Why = len(why) == 0, strings.Join(why, "; ")
}

// WriteTable prints the score as a table and a summary line.
func (s Score) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "INCIDENT\tKIND\tRESULT\tFIRST ALERT\tLEVEL\tBEST\tDELAY\tLEAD\tALERTS\tTARGET")
	for _, is := range s.Incidents {
		result, first, level, best, delay, lead := "missed", "-", "-", "-", "-", "-"
		if is.Detected {
			result = "detected"
			first = is.First.Site + "/" + is.First.Sensor + " " + is.First.Rule
			level = levelName(is.First.Level)
			best = levelName(is.Best)
		}
		if is.HasDelay {
			delay = is.Delay.Round(100 * time.Millisecond).String()
		} else if is.Detected {
			delay = "n/a"
		}
		if is.HasLead {
			lead = is.Lead.Round(100 * time.Millisecond).String()
		} else if is.Detected {
			lead = "n/a"
		}
		target := "-"
		switch {
		case is.Target != nil && is.Met:
			target = "met"
		case is.Target != nil:
			target = "MISSED: " + is.Why
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", is.ID, is.Kind, result, first, level, best, delay, lead, is.Alerts, target)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nfalse alerts: %d in %.1f sensor-hours (%.2f per 1,000 sensor-hours)\n",
		s.FalseAlerts, s.SensorHours, s.FalsePer1000())
	for _, ev := range s.False {
		fmt.Fprintf(w, "  %s  %s/%s  %s  %s  %s\n", ev.At.Format(time.RFC3339), ev.Site, ev.Sensor, ev.Rule, levelName(ev.Level), ev.Message)
	}
	_, err := fmt.Fprintf(w, "targets missed: %d\n", s.Missed)
	return err
}

func levelName(l sensors.Level) string {
	if l == sensors.LevelNone {
		return "-"
	}
	return l.String()
}
