package console

import (
	"slices"
	"strings"

	"github.com/riskmon/riskmon/alerting"
)

// peakTrack is the worst value an open alert's sensor has read since the
// alert began: the highest for a high alarm, the lowest for a low one. It
// is fed by the alert's own events and by every reading of the sensor
// while the alert is open, so the board's peak is not the value that
// happened to raise an event. It is the one thing about an alert the hub
// keeps itself: the lifecycle holds the alert, the hub the readings.
// value is guarded by Hub.rmu, watched by Hub.mu; the rest never changes.
type peakTrack struct {
	value        float64
	low          bool // a low alarm: the lowest value is the worst
	site, sensor string
	watched      bool // fed the sensor's readings: the alert is open
}

func (p *peakTrack) observe(v float64) {
	if (p.low && v < p.value) || (!p.low && v > p.value) {
		p.value = v
	}
}

// lowAlarm tells a low alarm (oxygen deficiency, air speed too low, a
// tailings beach too short) by the threshold rule's name; every other
// rule's peak is its highest value.
func lowAlarm(rule string) bool { return strings.HasSuffix(rule, "_low") }

// observePeaks feeds a reading to the open alerts of its sensor. Called
// from Readings with rmu held; a sensor without open alerts has none.
func observePeaks(peaks []*peakTrack, v float64) {
	for _, p := range peaks {
		p.observe(v)
	}
}

// isCondition tells the events that say something about the process
// (fired, escalated, de-escalated, resolved) from acknowledgements and
// reminders.
func isCondition(ev *alerting.Event) bool {
	return ev.Type != alerting.EventAcknowledged && ev.Type != alerting.EventReminder
}

// trackPeak starts, feeds or ends the peak of ev's alert. Called with h.mu
// held; takes rmu.
func (h *Hub) trackPeak(ev alerting.Event) {
	if !isCondition(&ev) {
		return
	}
	p := h.peaks[ev.AlertID]
	watched := p != nil && p.watched
	switch {
	case ev.Type == alerting.EventResolved:
		if watched {
			h.unwatchPeak(ev.AlertID, p)
		}
	case !watched:
		// A new alert, or one the engine restored after it ended.
		h.watchPeak(ev)
	default:
		h.rmu.Lock()
		p.observe(ev.Value)
		h.rmu.Unlock()
	}
}

// watchPeak starts tracking the peak of an alert from ev, on the alert's
// sensor's slot. Called with h.mu held; takes rmu.
func (h *Hub) watchPeak(ev alerting.Event) {
	if i := slices.Index(h.peakDone, ev.AlertID); i >= 0 {
		h.peakDone = slices.Delete(h.peakDone, i, i+1)
	}
	p := &peakTrack{value: ev.Value, low: lowAlarm(ev.Rule), site: ev.Site, sensor: ev.Sensor, watched: true}
	h.peaks[ev.AlertID] = p
	h.rmu.Lock()
	defer h.rmu.Unlock()
	if j, ok := h.followLocked().index[sensorKey{ev.Site, ev.Sensor}]; ok {
		h.latest[j].peaks = append(h.latest[j].peaks, p)
	}
}

// unwatchPeak stops feeding readings to an ended alert's peak, which stays
// readable for the last HubOptions.Resolved ended alerts. Called with h.mu
// held; takes rmu.
func (h *Hub) unwatchPeak(id string, p *peakTrack) {
	p.watched = false
	h.peakDone = append(h.peakDone, id)
	if len(h.peakDone) > h.opts.Resolved {
		delete(h.peaks, h.peakDone[0])
		h.peakDone = slices.Delete(h.peakDone, 0, 1)
	}
	h.rmu.Lock()
	defer h.rmu.Unlock()
	if j, ok := h.followLocked().index[sensorKey{p.site, p.sensor}]; ok {
		ps := h.latest[j].peaks
		if i := slices.Index(ps, p); i >= 0 {
			h.latest[j].peaks = append(ps[:i:i], ps[i+1:]...)
		}
	}
}

// liveOf is an alert's sensor's latest reading and the alert's peak, read
// together under rmu. ok is false when the sensor has not reported (or the
// alert is not a sensor's, e.g. a gateway's). An alert whose peak the hub
// did not follow (it ended before this process saw it) takes the worst
// value of its kept events. Called with h.mu held.
func (h *Hub) liveOf(r *alerting.Record) (l latestReading, ok bool, peak float64) {
	p := h.peaks[r.ID]
	h.rmu.Lock()
	defer h.rmu.Unlock()
	if p != nil {
		peak = p.value
	} else {
		peak = eventsPeak(r.Events, lowAlarm(r.Rule))
	}
	if j, found := h.followLocked().index[sensorKey{r.Site, r.Sensor}]; found && h.latest[j].gen != 0 {
		return h.latest[j], true, peak
	}
	return latestReading{}, false, peak
}

// eventsPeak is the worst value among an alert's condition events but the
// resolution (its value is the one that cleared).
func eventsPeak(evs []alerting.Event, low bool) float64 {
	var t *peakTrack
	for i := range evs {
		ev := &evs[i]
		if !isCondition(ev) || ev.Type == alerting.EventResolved {
			continue
		}
		if t == nil {
			t = &peakTrack{value: ev.Value, low: low}
		}
		t.observe(ev.Value)
	}
	if t == nil {
		return 0
	}
	return t.value
}
