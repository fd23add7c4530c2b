package alerting

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// SystemSite is the site name of alerts about riskmon itself.
const SystemSite = "riskmon"

const (
	// storeDamagedHold is how long alert_store_damaged (and
	// journal_torn_tail) stays active after the start that found the
	// damage; it then stays listed until acknowledged.
	storeDamagedHold = time.Hour
	// backlogClearAfter is how long intake must have run freely before
	// the storage_backlog alert clears.
	backlogClearAfter = 5 * time.Second
	// dataLossHold is how long a data-loss alert stays open after the
	// last gap.
	dataLossHold = 10 * time.Minute
	// clockSkewHold is how long a clock-skew alert stays open without a
	// new report from ingest (which repeats one every two minutes).
	clockSkewHold = 10 * time.Minute
	// gatewayMismatchHold is how long a gateway_mismatch alert stays
	// open without a new report from ingest (which repeats one every two
	// minutes while mismatched readings arrive).
	gatewayMismatchHold = 10 * time.Minute
	// staleAfterHold is how long after intake resumes sensor_stale and
	// the silent-gateway alert stay held back: long enough for the broker
	// to deliver what it kept, so a sensor is judged on its own silence,
	// not on riskmon's.
	staleAfterHold = time.Minute
)

// SpoolState is what the monitor reads of the spool of readings on
// their way to storage.
type SpoolState interface {
	// Backlog is what waits to be stored, and whether the spool is at
	// its cap (intake is then held back).
	Backlog() (bytes, readings int64, full bool)
	// WriteFailing is the error that keeps the spool from writing and
	// since when; nil when it writes.
	WriteFailing() (since time.Time, err error)
	// TakeDamage returns the damage found since the last call.
	TakeDamage() []SpoolDamage
}

// SpoolDamage is a stretch of the spool that failed its checksum: its
// readings were evaluated on arrival but never stored.
type SpoolDamage struct {
	Seg      uint64
	Off      int64
	Readings int64
}

// MonitorOptions are what a Monitor reads and drives besides its
// condition alerts. Every function may be nil.
type MonitorOptions struct {
	// Every is how often Run ticks; a second when zero.
	Every  time.Duration
	Logger *slog.Logger
	// Registry is the registry in force, for which gateways are known.
	Registry func() *sensors.Registry
	Spool    SpoolState
	// JournalLost counts the journal records that could not be written;
	// nil without a journal.
	JournalLost func() uint64
	// Quiet lists the gateways silent beyond their sensors' stale limit
	// (Engine.QuietGateways).
	Quiet func(now time.Time) []QuietGateway
	// After run in order at each tick, after the monitor's own checks:
	// the engine's stale sensors, shelf expiry, reminders and such.
	After []func(now time.Time)
}

// Monitor keeps the condition alerts about riskmon and its gateways: it
// words what ingest, the engine, the journal and the alert store report
// as condition alerts, and once a second (Run) it raises and clears the
// time-driven ones — storage backlog, spool damage, journal failures,
// silent gateways, the expiry of held alerts — and then drives the other
// timed parts of the alert path.
type Monitor struct {
	c    *Conditions
	opts MonitorOptions
	log  *slog.Logger
	// heldAt is when a tick last saw intake held back by the spool (at
	// its cap or unable to write), in Unix nanoseconds; 0 if never.
	heldAt   atomic.Int64
	gateways gatewayMap

	mu sync.Mutex // serialises Tick; silent is used under it only
	// silent holds the gateways whose gateway_offline silence raised.
	silent map[[2]string]bool
}

// NewMonitor returns a monitor that raises and clears its alerts in c.
func NewMonitor(c *Conditions, opts MonitorOptions) *Monitor {
	if opts.Every <= 0 {
		opts.Every = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Monitor{c: c, opts: opts, log: log, silent: map[[2]string]bool{}}
}

// Run ticks every opts.Every until ctx ends.
func (m *Monitor) Run(ctx context.Context) error {
	t := time.NewTicker(m.opts.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			m.Tick(now)
		}
	}
}

// Tick runs the checks once as at now: the storage backlog, spool
// damage, the expiry of data-loss and other held alerts, journal
// failures and silent gateways, then opts.After in order.
func (m *Monitor) Tick(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checkSpool(now)
	m.c.Expire(RuleDataLoss, now.Add(-dataLossHold), "no further message loss", now)
	m.checkJournal(now)
	// Ingest reports a skewed clock every two minutes while it lasts;
	// without reports (the gateway went quiet, or the report was lost
	// in a restart) the alert ends.
	m.c.Expire(RuleClockSkew, now.Add(-clockSkewHold), "no skewed readings for a while", now)
	m.c.Expire(RuleStoreDamaged, now.Add(-storeDamagedHold), "damaged alert-store entries were set aside an hour ago", now)
	m.c.Expire(RuleGatewayMismatch, now.Add(-gatewayMismatchHold), "no readings through an unregistered gateway for a while", now)
	m.c.Expire(RuleJournalTorn, now.Add(-storeDamagedHold), "the journal's torn tails were declared an hour ago", now)
	m.quietGateways(now)
	for _, f := range m.opts.After {
		f(now)
	}
}

// Drop forgets the silent gateways of sites handed to another instance,
// so the next tick does not clear their gateway_offline here: the
// instance now holding them continues it. Call it with Conditions.Drop.
func (m *Monitor) Drop(sites []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.silent {
		if slices.Contains(sites, k[0]) {
			delete(m.silent, k)
		}
	}
}

// Hourly returns a tick function that calls f at the first tick and then
// once an hour, for work too costly to do every second.
func Hourly(f func()) func(time.Time) {
	var last time.Time
	return func(now time.Time) {
		if now.Sub(last) >= time.Hour {
			last = now
			f()
		}
	}
}

// IntakeHeld reports whether riskmon itself held intake back (the spool
// at its cap or unable to write) at now or within staleAfterHold before
// it: silence is then riskmon's, not the sensors' or gateways'.
func (m *Monitor) IntakeHeld(now time.Time) bool {
	at := m.heldAt.Load()
	return at != 0 && now.Sub(time.Unix(0, at)) < staleAfterHold
}

// Inhibit is the engine's Options.Inhibit: it keeps sensor_stale from
// being raised per sensor behind a gateway that has its own open
// gateway_offline alert — the registered gateway, or the one the sensor
// was seen arriving through — or on a Sparkplug device that has its
// device_offline alert, and for every sensor while riskmon itself holds
// intake back and for staleAfterHold after: the readings are then
// waiting in the broker, not missing, and the single storage_backlog
// alert says so.
func (m *Monitor) Inhibit(site, sensor, gw, device string) bool {
	if m.IntakeHeld(time.Now()) {
		return true
	}
	if m.c.IsOpen(RuleGatewayOffline, site, gw) ||
		(device != "" && m.c.IsOpen(RuleDeviceOffline, site, gw+"/"+device)) {
		return true
	}
	via := m.gateways.through(site, sensor)
	return via != "" && m.c.IsOpen(RuleGatewayOffline, site, via)
}

// StorageBacklogFiring reports whether the storage backlog alert is up.
func (m *Monitor) StorageBacklogFiring() bool {
	return m.c.IsOpen(RuleStorageBacklog, SystemSite, "spool")
}

// quietGateways raises gateway_offline, at once and before the engine's
// tick, for a gateway from which nothing has been received for longer
// than its sensors' shortest stale limit, and clears it when readings
// come again. A gateway that stops without a will (a load ending, a cut
// cable the broker has not noticed yet) is then one alert, as a will
// makes it: the open gateway_offline inhibits sensor_stale for each of
// its sensors. Only alerts raised here are cleared here; one raised by a
// will waits for the gateway's "online".
func (m *Monitor) quietGateways(now time.Time) {
	if m.opts.Quiet == nil {
		return
	}
	quiet := map[[2]string]bool{}
	for _, g := range m.opts.Quiet(now) {
		k := [2]string{g.Site, g.Gateway}
		quiet[k] = true
		if m.silent[k] || m.c.IsOpen(RuleGatewayOffline, g.Site, g.Gateway) {
			continue
		}
		if m.IntakeHeld(now) {
			// riskmon holds intake back: the gateway's messages wait in
			// the broker, and storage_backlog is the one alert for that.
			continue
		}
		m.silent[k] = true
		m.c.Raise(RuleGatewayOffline, g.Site, g.Gateway, sensors.LevelOrange, now.Sub(g.Since).Seconds(), "s",
			fmt.Sprintf("gateway %s at %s went offline (silence: none of its %d sensors reported for %s; limit %s)",
				g.Gateway, g.Site, g.Sensors, now.Sub(g.Since).Round(time.Second), g.Limit), now)
	}
	for k := range m.silent {
		if quiet[k] {
			continue
		}
		delete(m.silent, k)
		m.c.Clear(RuleGatewayOffline, k[0], k[1], "s",
			fmt.Sprintf("gateway %s at %s is back online (readings received again)", k[1], k[0]), now)
	}
}

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
func (m *Monitor) knownGateway(site, gateway string) bool {
	if m.gateways.carries(site, gateway) {
		return true
	}
	return m.opts.Registry != nil && m.opts.Registry().HasGateway(site, gateway)
}
