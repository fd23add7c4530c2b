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
	type agg struct {
		sensors int
		last    int64
		limit   int64
	}
	n := now.UnixNano()
	set := e.rules()
	gws := map[[2]string]*agg{}
	for _, sh := range set.shards {
		sh.mu.Lock()
		for _, s := range sh.subjects {
			if s.stale < 0 || s.received == 0 {
				continue
			}
			k := [2]string{s.site, s.gateway}
			a := gws[k]
			if a == nil {
				a = &agg{}
				gws[k] = a
			}
			limit := s.early[s.stale].rule.staleAfter
			if a.sensors == 0 || limit < a.limit {
				a.limit = limit
			}
			a.sensors++
			a.last = max(a.last, s.received)
		}
		sh.mu.Unlock()
	}
	var out []QuietGateway
	for k, a := range gws {
		if a.sensors < 2 || n-a.last < a.limit {
			continue
		}
		out = append(out, QuietGateway{Site: k[0], Gateway: k[1], Sensors: a.sensors,
			Since: time.Unix(0, a.last), Limit: time.Duration(a.limit)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Site != out[j].Site {
			return out[i].Site < out[j].Site
		}
		return out[i].Gateway < out[j].Gateway
	})
	return out
}
