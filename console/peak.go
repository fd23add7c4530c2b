package console

import (
	"strings"

	"github.com/riskmon/riskmon/alerting"
)

// peakTrack is the worst value an open alert's sensor has read since the
// alert began: the highest for a high alarm, the lowest for a low one. It
// is fed by the alert's own events and by every reading of the sensor
// while the alert is open, so the board's peak is not the value that
// happened to raise an event. Guarded by Hub.rmu.
type peakTrack struct {
	value float64
	low   bool // a low alarm: the lowest value is the worst
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

// watchPeak starts tracking the peak of a new alert from its first event,
// on the alert's sensor's slot. Called with h.mu held; takes rmu.
func (h *Hub) watchPeak(a *alertRecord, ev alerting.Event) {
	a.track = &peakTrack{value: ev.Value, low: lowAlarm(ev.Rule)}
	h.rmu.Lock()
	defer h.rmu.Unlock()
	if j, ok := h.followLocked().index[sensorKey{ev.Site, ev.Sensor}]; ok {
		h.latest[j].peaks = append(h.latest[j].peaks, a.track)
	}
}

// eventPeak feeds an alert's own event value to its peak. Called with
// h.mu held; takes rmu.
func (h *Hub) eventPeak(a *alertRecord, v float64) {
	h.rmu.Lock()
	a.track.observe(v)
	h.rmu.Unlock()
}

// unwatchPeak stops feeding readings to a resolved alert's peak. Called
// with h.mu held; takes rmu.
func (h *Hub) unwatchPeak(a *alertRecord) {
	h.rmu.Lock()
	defer h.rmu.Unlock()
	if j, ok := h.followLocked().index[sensorKey{a.first.Site, a.first.Sensor}]; ok {
		ps := h.latest[j].peaks
		for i, p := range ps {
			if p == a.track {
				h.latest[j].peaks = append(ps[:i:i], ps[i+1:]...)
				break
			}
		}
	}
}

// liveOf is an alert's sensor's latest reading and the alert's peak, read
// together under rmu. ok is false when the sensor has not reported (or the
// alert is not a sensor's, e.g. a gateway's). Called with h.mu held.
func (h *Hub) liveOf(a *alertRecord) (l latestReading, ok bool, peak float64) {
	h.rmu.Lock()
	defer h.rmu.Unlock()
	peak = a.track.value
	if j, found := h.followLocked().index[sensorKey{a.first.Site, a.first.Sensor}]; found && h.latest[j].gen != 0 {
		return h.latest[j], true, peak
	}
	return latestReading{}, false, peak
}
