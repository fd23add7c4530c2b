package app

import (
	"fmt"
	"sync"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/ingest"
	"github.com/riskmon/riskmon/sensors"
)

// gatewayMismatchHold is how long a gateway_mismatch alert stays open
// without a new report from ingest (which repeats one every two minutes
// while mismatched readings arrive).
const gatewayMismatchHold = 10 * time.Minute

// gatewayMap is what riskmon learned of gateways beyond the registry's
// gateway column: the gateway each mismatched sensor actually arrives
// through. It keeps offline inhibition right for those sensors, and lets
// such a gateway's own offline status count.
type gatewayMap struct {
	mu  sync.Mutex
	via map[[2]string]string // site, sensor -> gateway it arrives through
	gws map[[2]string]bool   // site, gateway carrying a mismatched sensor
}

func (g *gatewayMap) learn(site, sensor, gateway string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.via == nil {
		g.via, g.gws = map[[2]string]string{}, map[[2]string]bool{}
	}
	g.via[[2]string{site, sensor}] = gateway
	g.gws[[2]string{site, gateway}] = true
}

func (g *gatewayMap) through(site, sensor string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.via[[2]string{site, sensor}]
}

func (g *gatewayMap) carries(site, gateway string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gws[[2]string{site, gateway}]
}

// knownGateway reports whether gateway at site is one riskmon monitors:
// in the registry's gateway column, or seen carrying registered sensors.
// Only those raise gateway_offline; a name in no registry (a test client,
// a typo, a gateway of another system sharing the broker) cannot.
func (s *Service) knownGateway(site, gateway string) bool {
	return s.registry.Registry().HasGateway(site, gateway) || s.gateways.carries(site, gateway)
}

// gatewayMismatch flags a sensor arriving through another gateway than its
// registered one: one yellow alert per carrying gateway, kept open while
// ingest keeps reporting it.
func (s *Service) gatewayMismatch(ev ingest.GatewayEvent) {
	s.gateways.learn(ev.Site, ev.Sensor, ev.Gateway)
	s.conditions.Raise(alerting.RuleGatewayMismatch, ev.Site, ev.Gateway, sensors.LevelYellow, 0, "",
		fmt.Sprintf("gateway %s at %s carries sensor %s, which the registry puts behind gateway %s; its readings are accepted, fix the registry's gateway column",
			ev.Gateway, ev.Site, ev.Sensor, ev.Registered), ev.At)
}
