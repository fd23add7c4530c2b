package sensors

import "time"

// GatewayEventKind is what happened to a gateway or a device behind it.
type GatewayEventKind uint8

// Gateway events. Ingest reports them from status messages, Sparkplug
// births and deaths and sequence numbers; the alerting monitor turns them
// into condition alerts. They live here, beside the readings, because
// both sides speak of them and neither may import the other.
const (
	GatewayOnline    GatewayEventKind = iota + 1 // status "online" or Sparkplug NBIRTH
	GatewayOffline                               // status "offline" (its will) or Sparkplug NDEATH
	GatewaySeqGap                                // messages missing by sequence number
	GatewayClockSkew                             // the gateway's clock is off riskmon's by a steady offset
	GatewayClockOK                               // its readings are back within the skew tolerance
	DeviceOnline                                 // Sparkplug DBIRTH: a device behind the gateway is back
	DeviceOffline                                // Sparkplug DDEATH: a device behind the gateway is gone
	// GatewayMismatch: readings of Sensor, registered behind another
	// gateway, arrive through this one. They are accepted; the event
	// flags it.
	GatewayMismatch
)

func (k GatewayEventKind) String() string {
	switch k {
	case GatewayOnline:
		return "online"
	case GatewayOffline:
		return "offline"
	case GatewaySeqGap:
		return "seq_gap"
	case GatewayClockSkew:
		return "clock_skew"
	case GatewayClockOK:
		return "clock_ok"
	case DeviceOnline:
		return "device_online"
	case DeviceOffline:
		return "device_offline"
	case GatewayMismatch:
		return "gateway_mismatch"
	}
	return "unknown"
}

// GatewayEvent is a gateway's status or a loss of its messages.
type GatewayEvent struct {
	Kind          GatewayEventKind
	Site, Gateway string
	// Device is the Sparkplug device_id of DeviceOnline and DeviceOffline.
	Device string
	// Sensor is the sensor of GatewayMismatch; Registered the gateway the
	// registry puts it behind.
	Sensor, Registered string
	// Missing is the number of messages lost, for GatewaySeqGap.
	Missing int
	// Skew is device time minus receive time, for GatewayClockSkew.
	Skew time.Duration
	// Source is where the event comes from: status, seq or sparkplug.
	Source string
	At     time.Time
}
