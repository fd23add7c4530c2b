package console

import (
	"net/http"
	"time"

	"github.com/riskmon/riskmon/alerting"
)

// HealthSource is the alarm-system health the console shows;
// *alerting.Health satisfies it.
type HealthSource interface {
	Snapshot() alerting.HealthSnapshot
}

// ISA-18.2 counts alarms per 10 minutes; more than 10 is a flood.
const (
	rateBucket  = 10 * time.Minute
	rateBuckets = 144 // a day
	floodLine   = 10
)

// rateRing counts fired alarms per 10-minute bucket of arrival time over
// the last day. alerting.Health keeps the figures but no history, and the
// chart needs the day's shape; the hub sees the same events.
type rateRing struct {
	counts [rateBuckets]uint32
	head   int64 // bucket number (unix time / rateBucket) of the newest bucket
}

func (r *rateRing) advance(now time.Time) {
	b := now.UnixNano() / int64(rateBucket)
	if r.head == 0 {
		r.head = b
		return
	}
	if b <= r.head {
		return // a clock step back counts into the newest bucket
	}
	for n := min(b-r.head, rateBuckets); n > 0; n-- {
		r.counts[(r.head+n)%rateBuckets] = 0
	}
	r.head = b
}

func (r *rateRing) add(now time.Time) {
	r.advance(now)
	r.counts[r.head%rateBuckets]++
}

// RateBucket is how many alarms fired in the 10 minutes from Start.
type RateBucket struct {
	Start time.Time `json:"start"`
	Count int       `json:"count"`
}

// AlarmRate returns the fired alarms per 10 minutes over the last day,
// oldest first, the current (partial) bucket last.
func (h *Hub) AlarmRate() []RateBucket {
	now := h.opts.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rate.advance(now)
	head := h.rate.head
	if head == 0 {
		head = now.UnixNano() / int64(rateBucket)
	}
	out := make([]RateBucket, 0, rateBuckets)
	for b := head - rateBuckets + 1; b <= head; b++ {
		out = append(out, RateBucket{Start: time.Unix(0, b*int64(rateBucket)).UTC(), Count: int(h.rate.counts[((b%rateBuckets)+rateBuckets)%rateBuckets])})
	}
	return out
}

// alarmHealth is the body of GET /api/v1/alarm-health: the health figures
// with the day's rate and the flood line to draw it against.
type alarmHealth struct {
	alerting.HealthSnapshot
	Rate      []RateBucket `json:"rate_10min"`
	FloodLine int          `json:"flood_line"`
}

func (s *server) alarmHealth(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Health == nil {
		writeError(w, http.StatusNotImplemented, "this console has no alarm-system health")
		return
	}
	writeJSON(w, alarmHealth{HealthSnapshot: s.opts.Health.Snapshot(), Rate: s.hub.AlarmRate(), FloodLine: floodLine})
}
