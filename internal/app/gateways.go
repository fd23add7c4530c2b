package app

import (
	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/ingest"
)

// gatewayEvent hands a gateway event of ingest to the monitor, which
// raises or clears its condition alert.
func (s *Service) gatewayEvent(ev ingest.GatewayEvent) {
	s.monitor.GatewayEvent(alerting.GatewayEvent{Kind: gatewayEventKind(ev.Kind), Site: ev.Site, Gateway: ev.Gateway,
		Device: ev.Device, Sensor: ev.Sensor, Registered: ev.Registered, Missing: ev.Missing, Skew: ev.Skew,
		Source: ev.Source, At: ev.At})
}

// gatewayEventKind is alerting's name for a kind of ingest's gateway
// events; 0, which raises nothing, for a kind alerting does not know.
func gatewayEventKind(k ingest.GatewayEventKind) alerting.GatewayEventKind {
	switch k {
	case ingest.GatewayOnline:
		return alerting.GatewayOnline
	case ingest.GatewayOffline:
		return alerting.GatewayOffline
	case ingest.GatewaySeqGap:
		return alerting.GatewaySeqGap
	case ingest.GatewayClockSkew:
		return alerting.GatewayClockSkew
	case ingest.GatewayClockOK:
		return alerting.GatewayClockOK
	case ingest.DeviceOnline:
		return alerting.DeviceOnline
	case ingest.DeviceOffline:
		return alerting.DeviceOffline
	case ingest.GatewayMismatch:
		return alerting.GatewayMismatch
	}
	return 0
}
