package alerting

import (
	"errors"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// fakeSpool is a SpoolState whose answers a test sets.
type fakeSpool struct {
	bytes, readings int64
	full            bool
	since           time.Time
	err             error
	damage          []SpoolDamage
}

func (f *fakeSpool) Backlog() (int64, int64, bool)    { return f.bytes, f.readings, f.full }
func (f *fakeSpool) WriteFailing() (time.Time, error) { return f.since, f.err }
func (f *fakeSpool) TakeDamage() []SpoolDamage {
	d := f.damage
	f.damage = nil
	return d
}

// monitorRig is a monitor on a registry with gateway gw1 at hz-01,
// recording what its conditions emit.
type monitorRig struct {
	m      *Monitor
	c      *Conditions
	spool  *fakeSpool
	lost   uint64
	quiet  []QuietGateway
	events []Event
}

func newMonitorRig(t *testing.T) *monitorRig {
	t.Helper()
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw1"}})
	if err != nil {
		t.Fatal(err)
	}
	r := &monitorRig{spool: &fakeSpool{}}
	r.c = NewConditions(SinkFunc(func(ev Event) { r.events = append(r.events, ev) }))
	r.m = NewMonitor(r.c, MonitorOptions{
		Registry:    func() *sensors.Registry { return reg },
		Spool:       r.spool,
		JournalLost: func() uint64 { return r.lost },
		Quiet:       func(time.Time) []QuietGateway { return r.quiet },
	})
	return r
}

// last is the message of the last event of rule, "" if none.
func (r *monitorRig) last(rule string) (EventType, string) {
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].Rule == rule {
			return r.events[i].Type, r.events[i].Message
		}
	}
	return 0, ""
}

// The wording of gateway events, and that only known gateways' status
// counts.
func TestMonitorGatewayEvents(t *testing.T) {
	t0 := time.Unix(1764345600, 0)
	tests := []struct {
		name    string
		ev      sensors.GatewayEvent
		rule    string
		typ     EventType
		message string
	}{
		{"will", sensors.GatewayEvent{Kind: sensors.GatewayOffline, Site: "hz-01", Gateway: "gw1", Source: "status"},
			RuleGatewayOffline, EventFired, "gateway gw1 at hz-01 went offline (status)"},
		{"unknown gateway ignored", sensors.GatewayEvent{Kind: sensors.GatewayOffline, Site: "hz-01", Gateway: "test-client", Source: "status"},
			RuleGatewayOffline, 0, ""},
		{"device death", sensors.GatewayEvent{Kind: sensors.DeviceOffline, Site: "hz-01", Gateway: "gw1", Device: "d1"},
			RuleDeviceOffline, EventFired, "device d1 of gateway gw1 at hz-01 went offline (Sparkplug DDEATH)"},
		{"clock behind", sensors.GatewayEvent{Kind: sensors.GatewayClockSkew, Site: "hz-01", Gateway: "gw1", Skew: -5*time.Minute - 3*time.Second},
			RuleClockSkew, EventFired, "gateway gw1 at hz-01: its clock is 5m3s behind riskmon's; rules run on its device times"},
		{"sequence gap", sensors.GatewayEvent{Kind: sensors.GatewaySeqGap, Site: "hz-01", Gateway: "gw1", Missing: 7, Source: "seq"},
			RuleDataLoss, EventFired, "gateway gw1 at hz-01: 7 messages lost by sequence number (seq)"},
		{"mismatch", sensors.GatewayEvent{Kind: sensors.GatewayMismatch, Site: "hz-01", Gateway: "gw9", Sensor: "GT-101", Registered: "gw1"},
			RuleGatewayMismatch, EventFired, "gateway gw9 at hz-01 carries sensor GT-101, which the registry puts behind gateway gw1; its readings are accepted, fix the registry's gateway column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newMonitorRig(t)
			tt.ev.At = t0
			r.m.GatewayEvent(tt.ev)
			typ, msg := r.last(tt.rule)
			if typ != tt.typ || msg != tt.message {
				t.Fatalf("got %v %q, want %v %q", typ, msg, tt.typ, tt.message)
			}
		})
	}
}

// A gateway seen carrying a registered sensor counts as known, and its
// offline alert inhibits sensor_stale for that sensor.
func TestMonitorLearnsCarryingGateway(t *testing.T) {
	r := newMonitorRig(t)
	now := time.Now()
	r.m.GatewayEvent(sensors.GatewayEvent{Kind: sensors.GatewayMismatch, Site: "hz-01", Gateway: "gw9", Sensor: "GT-101", Registered: "gw1", At: now})
	r.m.GatewayEvent(sensors.GatewayEvent{Kind: sensors.GatewayOffline, Site: "hz-01", Gateway: "gw9", Source: "status", At: now})
	if !r.c.IsOpen(RuleGatewayOffline, "hz-01", "gw9") {
		t.Fatal("the offline status of a gateway carrying a registered sensor was ignored")
	}
	if !r.m.Inhibit("hz-01", "GT-101", "gw1", "") {
		t.Fatal("sensor_stale not inhibited for a sensor behind the offline gateway it arrives through")
	}
}

// The storage backlog is raised while the spool is full or cannot write,
// holds back the silent-gateway alert, and clears once intake has run
// freely for backlogClearAfter.
func TestMonitorStorageBacklog(t *testing.T) {
	r := newMonitorRig(t)
	t0 := time.Now()
	r.spool.full, r.spool.readings, r.spool.bytes = true, 100, 4096
	r.m.Tick(t0)
	if typ, msg := r.last(RuleStorageBacklog); typ != EventFired ||
		msg != "storage backlog: spool full with 100 readings (4096 bytes) not yet in InfluxDB; intake is held back" {
		t.Fatalf("got %v %q", typ, msg)
	}
	r.spool.full, r.spool.err, r.spool.since = false, errors.New("no space left on device"), t0
	r.m.Tick(t0.Add(time.Second))
	if !r.m.StorageBacklogFiring() || !r.m.IntakeHeld(t0.Add(time.Second)) {
		t.Fatal("backlog not firing or intake not held while the spool cannot write")
	}
	r.quiet = []QuietGateway{{Site: "hz-01", Gateway: "gw1", Sensors: 1, Since: t0.Add(-time.Hour), Limit: time.Minute}}
	r.m.Tick(t0.Add(2 * time.Second))
	if r.c.IsOpen(RuleGatewayOffline, "hz-01", "gw1") {
		t.Fatal("gateway_offline raised for silence while riskmon held intake back")
	}
	r.spool.err, r.quiet = nil, nil
	r.m.Tick(t0.Add(3 * time.Second))
	if !r.m.StorageBacklogFiring() {
		t.Fatal("backlog cleared before intake ran freely for a while")
	}
	r.m.Tick(t0.Add(3*time.Second + backlogClearAfter))
	if typ, msg := r.last(RuleStorageBacklog); typ != EventResolved || msg != "storage backlog cleared: 100 readings waiting" {
		t.Fatalf("got %v %q", typ, msg)
	}
}

// Spool damage is data loss; journal write failures raise and clear.
func TestMonitorSpoolDamageAndJournal(t *testing.T) {
	r := newMonitorRig(t)
	t0 := time.Now()
	r.spool.damage = []SpoolDamage{{Seg: 3, Off: 512, Readings: 40}}
	r.lost = 2
	r.m.Tick(t0)
	if _, msg := r.last(RuleDataLoss); msg != "spool damaged: 40 readings in segment 3 at offset 512 failed their checksum and were skipped; they were evaluated on arrival but are not in InfluxDB" {
		t.Fatalf("data loss %q", msg)
	}
	if _, msg := r.last(RuleJournalFailed); msg != "journal: 2 record(s) not written (full disk or I/O error); alarms are still raised and notified, their journal record is missing" {
		t.Fatalf("journal %q", msg)
	}
	r.lost = 0
	r.m.Tick(t0.Add(time.Second))
	if r.c.IsOpen(RuleJournalFailed, SystemSite, "journal") {
		t.Fatal("journal alert still open once the journal writes again")
	}
	r.m.Tick(t0.Add(2*time.Second + dataLossHold))
	if r.c.IsOpen(RuleDataLoss, SystemSite, "spool") {
		t.Fatal("data loss still open after dataLossHold without further loss")
	}
}

// The alerts of damage found at start, and of a clock stepped back, keep
// their wording (the clock step's in both languages).
func TestMonitorStartAndClockAlerts(t *testing.T) {
	r := newMonitorRig(t)
	t0 := time.Unix(1764345600, 0)
	r.m.StoreDamaged([]Damaged{{Bucket: "alerts", Key: "a1"}, {Bucket: "shelves", Key: "s1"}}, t0)
	r.m.JournalTorn([]TornTail{{File: "000001.jnl", Offset: 100, Bytes: 20}}, t0)
	r.m.ClockStepped(ClockStep{Site: "hz-01", Sensor: "GT-101", Gateway: "gw1", Step: 100 * time.Second, Received: t0})
	for rule, want := range map[string]string{
		RuleStoreDamaged: "alert store: 2 damaged entries set aside at start (alerts/a1, shelves/s1); an open alert, shelf or waiting notification may be missing",
		RuleJournalTorn:  "journal: 1 torn tail(s) found at start (000001.jnl at byte 100, 20 bytes), 20 bytes set aside and declared; the records being written when riskmon stopped may be missing",
		RuleClockSkew:    "gateway gw1 at hz-01: its clock stepped back by 1m40s (sensor GT-101); rules go on from the new device times / 网关 gw1（hz-01）时钟回拨 1m40s（测点 GT-101），规则已按新的设备时间继续判定",
	} {
		if _, msg := r.last(rule); msg != want {
			t.Errorf("%s: %q, want %q", rule, msg, want)
		}
	}
	r.m.Tick(t0.Add(storeDamagedHold + time.Second))
	if r.c.IsOpen(RuleStoreDamaged, SystemSite, "alert_store") || r.c.IsOpen(RuleJournalTorn, SystemSite, "journal") {
		t.Fatal("start damage alerts still active after their hour")
	}
}
