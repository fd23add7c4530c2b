package alerting

import (
	"sort"
	"time"
)

// QuietGateway is a gateway from which no reading of any sensor has been
// received for longer than the shortest stale limit of its sensors.
type QuietGateway struct {
	Site, Gateway string
	// Sensors is how many of its sensors have a sensor_stale rule.
	Sensors int
	// Since is when the last reading of any of them was received.
	Since time.Time
	// Limit is the shortest stale limit among them.
	Limit time.Duration
}

// QuietGateways lists, at wall-clock time now, the gateways with at least
// two sensors under a sensor_stale rule from which nothing at all was
// received for longer than the shortest of their stale limits, sorted by
// site and gateway. A gateway that stops without a will (a load or a
// simulation ending, a cut cable the broker has not noticed yet) is then
// one gateway alert: the service raises it and inhibits the stale alert
// of each of its sensors (Options.Inhibit), which Tick would otherwise
// raise one by one. Silence is judged on receive times, as for
// sensor_stale; sensors not heard from since start-up count from the
// first Tick.
func (e *Engine) QuietGateways(now time.Time) []QuietGateway {
	n := now.UnixNano()
	var out []QuietGateway
	for _, sh := range e.rules().shards {
		sh.mu.Lock()
		for i := range sh.quiet {
			if q, ok := sh.quiet[i].judge(n); ok {
				out = append(out, q)
			}
		}
		sh.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Site != out[j].Site {
			return out[i].Site < out[j].Site
		}
		return out[i].Gateway < out[j].Gateway
	})
	return out
}

// quietGroup is one gateway's subjects under a sensor_stale rule. The
// groups are made once per rule set: QuietGateways runs every second over
// the whole fleet, and gathering the subjects into a map keyed by site
// and gateway on each call was most of its cost (a fixed cost, paid by a
// quiet fleet as much as a busy one).
type quietGroup struct {
	site, gateway string
	subjects      []*subject
}

// judge reports g as a QuietGateway at n (Unix ns) when at least two of
// its subjects were heard from and the last of them longer ago than the
// shortest of their stale limits. The caller holds the shard's lock.
func (g *quietGroup) judge(n int64) (QuietGateway, bool) {
	var heard int
	var last, limit int64
	for _, s := range g.subjects {
		if s.received == 0 {
			continue
		}
		if l := s.early[s.stale].rule.staleAfter; heard == 0 || l < limit {
			limit = l
		}
		heard++
		last = max(last, s.received)
	}
	if heard < 2 || n-last < limit {
		return QuietGateway{}, false
	}
	return QuietGateway{Site: g.site, Gateway: g.gateway, Sensors: heard,
		Since: time.Unix(0, last), Limit: time.Duration(limit)}, true
}

// groupQuiet gathers each shard's subjects under a sensor_stale rule by
// gateway, once the set's subjects are all made.
func (set *ruleSet) groupQuiet() {
	for _, sh := range set.shards {
		at := map[[2]string]int{}
		for _, s := range sh.subjects {
			if s.stale < 0 {
				continue
			}
			k := [2]string{s.site, s.gateway}
			i, ok := at[k]
			if !ok {
				i = len(sh.quiet)
				at[k] = i
				sh.quiet = append(sh.quiet, quietGroup{site: s.site, gateway: s.gateway})
			}
			sh.quiet[i].subjects = append(sh.quiet[i].subjects, s)
		}
	}
}
