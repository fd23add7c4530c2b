package app

import (
	"fmt"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// checkSilence raises the alerts of silence: one per quiet gateway first,
// then sensor_stale for the silent sensors of the others.
func (s *Service) checkSilence(now time.Time, silent map[[2]string]bool) {
	s.quietGateways(now, silent)
	s.engine.Tick(now)
}

// quietGateways raises gateway_offline, at once and before Tick, for a
// gateway from which nothing has been received for longer than its
// sensors' shortest stale limit, and clears it when readings come again.
// A gateway that stops without a will (a load ending, a cut cable the
// broker has not noticed yet) is then one alert, as a will makes it: the
// open gateway_offline inhibits sensor_stale for each of its sensors.
// Only alerts raised here are cleared here; one raised by a will waits
// for the gateway's "online". silent is used from watch only.
func (s *Service) quietGateways(now time.Time, silent map[[2]string]bool) {
	quiet := map[[2]string]bool{}
	for _, g := range s.engine.QuietGateways(now) {
		k := [2]string{g.Site, g.Gateway}
		quiet[k] = true
		if silent[k] || s.conditions.IsOpen(alerting.RuleGatewayOffline, g.Site, g.Gateway) {
			continue
		}
		if s.intakeHeld(now) {
			// riskmon holds intake back: the gateway's messages wait in
			// the broker, and storage_backlog is the one alert for that.
			continue
		}
		silent[k] = true
		s.conditions.Raise(alerting.RuleGatewayOffline, g.Site, g.Gateway, sensors.LevelOrange, now.Sub(g.Since).Seconds(), "s",
			fmt.Sprintf("gateway %s at %s went offline (silence: none of its %d sensors reported for %s; limit %s)",
				g.Gateway, g.Site, g.Sensors, now.Sub(g.Since).Round(time.Second), g.Limit), now)
	}
	for k := range silent {
		if quiet[k] {
			continue
		}
		delete(silent, k)
		s.conditions.Clear(alerting.RuleGatewayOffline, k[0], k[1], "s",
			fmt.Sprintf("gateway %s at %s is back online (readings received again)", k[1], k[0]), now)
	}
}
