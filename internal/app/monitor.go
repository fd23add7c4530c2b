package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/console"
	"github.com/riskmon/riskmon/ingest"
	"github.com/riskmon/riskmon/journal"
	"github.com/riskmon/riskmon/sensors"
)

// newMonitor builds the condition-alert monitor on what the service
// holds. Its 1 s tick then drives, in this order, the engine's silent
// sensors, expiring shelves, flapping alerts that have stayed clear,
// reminders of unacknowledged level-1/2 alerts, hourly the forgetting of
// old keys of sent notifications, and the console's login throttle. The
// engine is built after the monitor (it is told of clock steps and asks
// about inhibition), so it is read when a tick runs.
func (s *Service) newMonitor() *alerting.Monitor {
	opts := alerting.MonitorOptions{
		Logger:   s.log.With("component", "alerting"),
		Registry: s.registry.Registry,
		Spool:    spoolState{s.spool},
		Quiet: func(now time.Time) []alerting.QuietGateway {
			return s.ownedQuiet(now, s.engine.QuietGateways(now))
		},
		After: []func(time.Time){
			func(now time.Time) { s.engine.Tick(now) },
			func(now time.Time) { s.shelves.Tick(now) },
			func(now time.Time) { s.flapper.Tick(now) },
			func(now time.Time) { s.lifecycle.Remind(now) },
			alerting.Hourly(s.dispatcher.Prune),
			s.auth.Tick,
		},
	}
	if s.journal != nil {
		opts.JournalLost = s.journal.Lost
	}
	return alerting.NewMonitor(s.conditions, opts)
}

// Tick runs the monitor's 1 s checks once, as at now, without waiting
// for its next second: a caller that moves time on (a test, a
// simulation) sees their effect at once.
func (s *Service) Tick(now time.Time) { s.monitor.Tick(now) }

// spoolState shows the monitor the spool, its damage in alerting's terms.
type spoolState struct{ *ingest.Spool }

func (sp spoolState) TakeDamage() []alerting.SpoolDamage {
	var out []alerting.SpoolDamage
	for _, d := range sp.Spool.TakeDamage() {
		out = append(out, alerting.SpoolDamage{Seg: d.Seg, Off: d.Off, Readings: d.Readings})
	}
	return out
}

// reportDamagedStore counts the alert-store entries found damaged and set
// aside at start, and raises alert_store_damaged for them.
func (s *Service) reportDamagedStore() {
	bad := s.store.Quarantined()
	quarantined := prometheus.NewCounter(prometheus.CounterOpts{Name: "riskmon_alert_store_quarantined_total",
		Help: "Damaged alert-store entries (or a whole damaged file) set aside at start."})
	quarantined.Add(float64(len(bad)))
	s.prom.MustRegister(quarantined)
	s.monitor.StoreDamaged(bad, time.Now())
}

// tornTails is the journal's torn tails in alerting's terms.
func tornTails(torn []journal.Torn) []alerting.TornTail {
	out := make([]alerting.TornTail, 0, len(torn))
	for _, t := range torn {
		out = append(out, alerting.TornTail{File: t.File, Offset: t.Offset, Bytes: t.Bytes})
	}
	return out
}

// journalShelfExpiry records a shelf's expiry in the journal; nil
// without a journal.
func (s *Service) journalShelfExpiry() func(at time.Time, user, comment string) {
	if s.journal == nil {
		return nil
	}
	return func(at time.Time, user, comment string) {
		s.journal.Action(time.Time{}, console.AuditRecord{At: at.UTC(), Action: "shelf_expired", User: user, Comment: comment})
	}
}

// systemSite is the site name of alerts about riskmon itself.
const systemSite = alerting.SystemSite

// GatewayEvent takes a gateway's or a device's status (online, offline,
// its clock) as ingest does from the status topics and Sparkplug births
// and deaths, raising or clearing its condition alerts. A caller with
// gateway status from elsewhere (a simulation, another collector) may
// pass it too.
func (s *Service) GatewayEvent(ev sensors.GatewayEvent) { s.monitor.GatewayEvent(ev) }
