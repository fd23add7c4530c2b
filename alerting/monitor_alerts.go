package alerting

import (
	"fmt"
	"strings"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// GatewayEvent turns gateway status and message loss into condition
// alerts: a gateway's will or Sparkplug death raises gateway_offline at
// once (orange: the site's monitoring has a hole), its return clears it; a
// sequence gap raises data_loss (yellow), cleared after dataLossHold
// without further loss.
func (m *Monitor) GatewayEvent(ev sensors.GatewayEvent) {
	switch ev.Kind {
	case sensors.GatewayOffline, sensors.GatewayOnline, sensors.DeviceOffline, sensors.DeviceOnline:
		if !m.knownGateway(ev.Site, ev.Gateway) {
			m.log.Warn("status of a gateway no registered sensor is behind; ignored", "site", ev.Site, "gateway", ev.Gateway, "status", ev.Kind, "source", ev.Source)
			return
		}
	}
	switch ev.Kind {
	case sensors.GatewayMismatch:
		m.gatewayMismatch(ev)
	case sensors.GatewayOffline:
		m.c.Raise(RuleGatewayOffline, ev.Site, ev.Gateway, sensors.LevelOrange, 0, "",
			fmt.Sprintf("gateway %s at %s went offline (%s)", ev.Gateway, ev.Site, ev.Source), ev.At)
	case sensors.GatewayOnline:
		m.c.Clear(RuleGatewayOffline, ev.Site, ev.Gateway, "",
			fmt.Sprintf("gateway %s at %s is back online (%s)", ev.Gateway, ev.Site, ev.Source), ev.At)
	case sensors.DeviceOffline:
		m.c.Raise(RuleDeviceOffline, ev.Site, ev.Gateway+"/"+ev.Device, sensors.LevelOrange, 0, "",
			fmt.Sprintf("device %s of gateway %s at %s went offline (Sparkplug DDEATH)", ev.Device, ev.Gateway, ev.Site), ev.At)
	case sensors.DeviceOnline:
		m.c.Clear(RuleDeviceOffline, ev.Site, ev.Gateway+"/"+ev.Device, "",
			fmt.Sprintf("device %s of gateway %s at %s is back online (Sparkplug DBIRTH)", ev.Device, ev.Gateway, ev.Site), ev.At)
	case sensors.GatewayClockSkew:
		way := "ahead of"
		if ev.Skew < 0 {
			way = "behind"
		}
		m.c.Raise(RuleClockSkew, ev.Site, ev.Gateway, sensors.LevelYellow, ev.Skew.Seconds(), "s",
			fmt.Sprintf("gateway %s at %s: its clock is %s %s riskmon's; rules run on its device times", ev.Gateway, ev.Site,
				ev.Skew.Abs().Round(time.Second), way), ev.At)
	case sensors.GatewayClockOK:
		m.c.Clear(RuleClockSkew, ev.Site, ev.Gateway, "s",
			fmt.Sprintf("gateway %s at %s: clock back within the skew tolerance", ev.Gateway, ev.Site), ev.At)
	case sensors.GatewaySeqGap:
		m.c.Raise(RuleDataLoss, ev.Site, ev.Gateway, sensors.LevelYellow, float64(ev.Missing), "messages",
			fmt.Sprintf("gateway %s at %s: %d messages lost by sequence number (%s)", ev.Gateway, ev.Site, ev.Missing, ev.Source), ev.At)
	}
}

// gatewayMismatch flags a sensor arriving through another gateway than its
// registered one: one yellow alert per carrying gateway, kept open while
// ingest keeps reporting it.
func (m *Monitor) gatewayMismatch(ev sensors.GatewayEvent) {
	m.gateways.learn(ev.Site, ev.Sensor, ev.Gateway)
	m.c.Raise(RuleGatewayMismatch, ev.Site, ev.Gateway, sensors.LevelYellow, 0, "",
		fmt.Sprintf("gateway %s at %s carries sensor %s, which the registry puts behind gateway %s; its readings are accepted, fix the registry's gateway column",
			ev.Gateway, ev.Site, ev.Sensor, ev.Registered), ev.At)
}

// ClockStepped is the engine's Options.OnClockStep: it raises
// gateway_clock_skew at once for a gateway clock the engine saw stepped
// back. The rules went on from the new device times, and the operator
// learns that the gateway's times jumped (readings of the fast spell
// carry device times up to the step in the future).
func (m *Monitor) ClockStepped(c ClockStep) {
	gw := c.Gateway
	if gw == "" {
		gw = c.Sensor
	}
	step := c.Step.Round(time.Second)
	m.log.Warn("gateway clock stepped back; rules go on from the new device times", "site", c.Site, "gateway", gw,
		"sensor", c.Sensor, "step", step, "last_device_time", c.From, "device_time", c.To)
	m.c.Raise(RuleClockSkew, c.Site, gw, sensors.LevelYellow, -step.Seconds(), "s",
		fmt.Sprintf("gateway %s at %s: its clock stepped back by %s (sensor %s); rules go on from the new device times / "+
			"网关 %s（%s）时钟回拨 %s（测点 %s），规则已按新的设备时间继续判定", gw, c.Site, step, c.Sensor, gw, c.Site, step, c.Sensor), c.Received)
}

// StoreDamaged raises alert_store_damaged for the entries of the alert
// store found damaged and set aside while loading it: riskmon starts and
// monitors, and the operator learns that an open alert, a shelf or a
// waiting notification may be missing.
func (m *Monitor) StoreDamaged(bad []Damaged, now time.Time) {
	if len(bad) == 0 {
		return
	}
	where := make([]string, 0, len(bad))
	for _, d := range bad {
		m.log.Error("damaged alert-store entry set aside; riskmon goes on without it", "bucket", d.Bucket, "key", d.Key, "err", d.Err)
		where = append(where, d.Bucket+"/"+d.Key)
	}
	m.c.Raise(RuleStoreDamaged, SystemSite, "alert_store", sensors.LevelOrange, float64(len(bad)), "entries",
		// The engine's messages are English; alarmtext writes the Chinese.
		fmt.Sprintf("alert store: %d damaged entries set aside at start (%s); an open alert, shelf or waiting notification may be missing",
			len(bad), strings.Join(where, ", ")), now)
}

// TornTail is a journal segment's end cut by a crash or a full disk and
// set aside at start.
type TornTail struct {
	File          string
	Offset, Bytes int64
}

// JournalTorn raises journal_torn_tail when the journal found torn tails
// at start: a crash or a full disk cut the records being written, which
// may be missing from the record of what happened. Yellow: alarms were
// raised and notified all the same, and the chain verifies with the
// tails declared; but the cause (a crash, a full disk) wants a look, and
// the gap is something the safety officer signs off, so it is held for
// an hour like alert_store_damaged and then listed until acknowledged.
func (m *Monitor) JournalTorn(torn []TornTail, now time.Time) {
	if len(torn) == 0 {
		return
	}
	var cut int64
	where := make([]string, 0, len(torn))
	for _, t := range torn {
		cut += t.Bytes
		where = append(where, fmt.Sprintf("%s at byte %d, %d bytes", t.File, t.Offset, t.Bytes))
	}
	m.c.Raise(RuleJournalTorn, SystemSite, "journal", sensors.LevelYellow, float64(len(torn)), "tails",
		fmt.Sprintf("journal: %d torn tail(s) found at start (%s), %d bytes set aside and declared; the records being written when riskmon stopped may be missing",
			len(torn), strings.Join(where, "; "), cut), now)
}

// checkSpool keeps the level-1 "storage backlog" while the spool is at
// its cap or cannot write (intake is then held back, so live evaluation
// stalls once the broker's in-flight window is used up), and raises
// data_loss for damage found in the spool.
func (m *Monitor) checkSpool(now time.Time) {
	sp := m.opts.Spool
	if sp == nil {
		return
	}
	bytes, readings, full := sp.Backlog()
	since, werr := sp.WriteFailing()
	switch {
	case werr != nil:
		m.heldAt.Store(now.UnixNano())
		m.c.Raise(RuleStorageBacklog, SystemSite, "spool", sensors.LevelRed, float64(readings), "readings",
			fmt.Sprintf("storage backlog: the spool cannot write since %s (%v); nothing is acknowledged and intake is held back, the broker holds the messages; free disk space and riskmon resumes by itself",
				since.UTC().Format(time.RFC3339), werr), now)
	case full:
		m.heldAt.Store(now.UnixNano())
		m.c.Raise(RuleStorageBacklog, SystemSite, "spool", sensors.LevelRed, float64(readings), "readings",
			fmt.Sprintf("storage backlog: spool full with %d readings (%d bytes) not yet in InfluxDB; intake is held back", readings, bytes), now)
	case now.Sub(time.Unix(0, m.heldAt.Load())) >= backlogClearAfter:
		// Cleared once intake has run freely for a while, so a disk that
		// frees space in trickles pages once, not on every commit that
		// happens to fit.
		m.c.Clear(RuleStorageBacklog, SystemSite, "spool", "readings",
			fmt.Sprintf("storage backlog cleared: %d readings waiting", readings), now)
	}
	for _, d := range sp.TakeDamage() {
		m.c.Raise(RuleDataLoss, SystemSite, "spool", sensors.LevelYellow, float64(d.Readings), "readings",
			fmt.Sprintf("spool damaged: %d readings in segment %d at offset %d failed their checksum and were skipped; they were evaluated on arrival but are not in InfluxDB", d.Readings, d.Seg, d.Off), now)
	}
}

// checkJournal raises an orange alert while journal records cannot be
// written, and clears it once one is: the alarms go on, their record does
// not.
func (m *Monitor) checkJournal(now time.Time) {
	if m.opts.JournalLost == nil {
		return
	}
	if lost := m.opts.JournalLost(); lost > 0 {
		m.c.Raise(RuleJournalFailed, SystemSite, "journal", sensors.LevelOrange, float64(lost), "records",
			fmt.Sprintf("journal: %d record(s) not written (full disk or I/O error); alarms are still raised and notified, their journal record is missing", lost), now)
		return
	}
	m.c.Clear(RuleJournalFailed, SystemSite, "journal", "records", "journal writes again; the records it missed are counted in it", now)
}
