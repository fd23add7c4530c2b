package alerting

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// Rules of condition alerts: alerts about the monitoring itself rather
// than a reading crossing a setpoint.
const (
	RuleGatewayOffline = "gateway_offline" // a gateway's will or Sparkplug death arrived
	// RuleDeviceOffline: a Sparkplug device behind a gateway died (DDEATH);
	// its subject is "{gateway}/{device}".
	RuleDeviceOffline = "device_offline"
	// RuleGatewayMismatch: sensors the registry puts behind one gateway
	// arrive through another (the subject); their readings are accepted.
	RuleGatewayMismatch = "gateway_mismatch"
	RuleDataLoss        = "data_loss"       // a gateway's messages went missing by sequence number
	RuleStorageBacklog  = "storage_backlog" // readings cannot be stored and intake is held back
	// RuleJournalFailed: journal records cannot be written (a full disk);
	// alarms are still raised and notified, their record is missing.
	RuleJournalFailed = "journal_write_failed"
	// RuleJournalTorn: at start the journal ended in a torn record (a
	// crash or a full disk cut its last write); the tail was set aside and
	// declared, and the records it held may be missing. It stays until an
	// operator acknowledges it and is cleared at the next clean start.
	RuleJournalTorn = "journal_torn_tail"
	// RuleClockSkew: a gateway's clock is set wrong, so its device times —
	// which every rule runs on — are off by a steady offset.
	RuleClockSkew = "gateway_clock_skew"
	// RuleStoreDamaged: riskmon found damaged entries in its alert store
	// at start and set them aside; what they held (an open alert, a
	// shelf, a notification waiting) may be missing.
	RuleStoreDamaged = "alert_store_damaged"
	// RuleClusterUnavailable: in cluster mode, this instance has not
	// reached JetStream for a while: the NATS cluster lost its quorum or
	// the instance is cut off from it. Gateways' readings are then not
	// acknowledged, stored or evaluated.
	RuleClusterUnavailable = "cluster_jetstream_unavailable"
	// RuleClusterUnowned: in cluster mode, a partition's lease has been
	// free for a while with nobody taking it: its sites (the subject is
	// "partition-{n}") are not evaluated. Any live instance sees it.
	RuleClusterUnowned = "cluster_partition_unowned"
)

// Conditions raises and clears condition alerts, with the same events and
// one-alert-per-subject rule as the threshold engine. Safe for concurrent
// use; events go to the sink while the lock is held so that one subject's
// events keep their order.
type Conditions struct {
	sink Sink
	mu   sync.Mutex
	open map[condKey]*condition
}

type condKey struct{ rule, site, subject string }

type condition struct {
	id       string
	level    sensors.Level
	startsAt time.Time
	lastAt   time.Time
	value    float64
}

// NewConditions returns an empty set that emits to sink.
func NewConditions(sink Sink) *Conditions {
	return &Conditions{sink: sink, open: map[condKey]*condition{}}
}

// Raise opens the alert of (rule, site, subject) at level, or escalates it
// when level is more severe than its current one; an open alert at the
// same or a more severe level only records the time. It reports whether
// an event was emitted.
func (c *Conditions) Raise(rule, site, subject string, level sensors.Level, value float64, unit, msg string, at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := condKey{rule, site, subject}
	cur, ok := c.open[k]
	if ok {
		cur.lastAt, cur.value = at, value
		if !level.MoreSevere(cur.level) {
			return false
		}
		prev := cur.level
		cur.level = level
		c.sink.Emit(c.event(k, cur, EventEscalated, prev, unit, msg, at))
		return true
	}
	cur = &condition{id: alertID(rule, site, subject, at.UnixNano()), level: level, startsAt: at, lastAt: at, value: value}
	c.open[k] = cur
	c.sink.Emit(c.event(k, cur, EventFired, sensors.LevelNone, unit, msg, at))
	return true
}

// Clear resolves the alert of (rule, site, subject) if it is open.
func (c *Conditions) Clear(rule, site, subject, unit, msg string, at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clearLocked(condKey{rule, site, subject}, unit, msg, at)
}

func (c *Conditions) clearLocked(k condKey, unit, msg string, at time.Time) bool {
	cur, ok := c.open[k]
	if !ok {
		return false
	}
	delete(c.open, k)
	prev := cur.level
	cur.level = sensors.LevelNone
	c.sink.Emit(c.event(k, cur, EventResolved, prev, unit, msg, at))
	return true
}

// Expire resolves the open alerts of rule last raised before cutoff: for
// events such as lost messages, which have no "back to normal" signal.
func (c *Conditions) Expire(rule string, cutoff time.Time, msg string, at time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, cur := range c.open {
		if k.rule == rule && cur.lastAt.Before(cutoff) {
			c.clearLocked(k, "", msg, at)
			n++
		}
	}
	return n
}

// IsOpen reports whether the alert of (rule, site, subject) is open.
func (c *Conditions) IsOpen(rule, site, subject string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.open[condKey{rule, site, subject}]
	return ok
}

// Active lists the open condition alerts, most severe first.
func (c *Conditions) Active() []Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Alert, 0, len(c.open))
	for k, cur := range c.open {
		out = append(out, Alert{ID: cur.id, Rule: k.rule, Site: k.site, Sensor: k.subject, State: StateFiring,
			Level: cur.level, Value: cur.value, LastAt: cur.lastAt, Since: cur.startsAt})
	}
	slices.SortFunc(out, func(a, b Alert) int {
		if a.Level != b.Level {
			return int(a.Level) - int(b.Level)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

func (c *Conditions) event(k condKey, cur *condition, typ EventType, prev sensors.Level, unit, msg string, at time.Time) Event {
	return Event{AlertID: cur.id, Rule: k.rule, Site: k.site, Sensor: k.subject, Unit: unit, Type: typ,
		Level: cur.level, PrevLevel: prev, Value: cur.value, At: at.UTC(), StartsAt: cur.startsAt.UTC(), Message: msg}
}

// conditionRules are the rules Conditions raises.
var conditionRules = map[string]bool{RuleGatewayOffline: true, RuleDeviceOffline: true, RuleGatewayMismatch: true, RuleDataLoss: true,
	RuleStorageBacklog: true, RuleClockSkew: true, RuleStoreDamaged: true, RuleJournalFailed: true, RuleJournalTorn: true,
	RuleClusterUnavailable: true, RuleClusterUnowned: true}

// ConditionRules are the rules of condition alerts, sorted: every one
// needs its words for operators (alarmtext).
func ConditionRules() []string {
	out := make([]string, 0, len(conditionRules))
	for r := range conditionRules {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// Drop forgets the open condition alerts of sites, emitting nothing: in a
// cluster another instance now holds those sites and continues their
// alerts under the same ids, so this one must neither clear nor raise
// them again. It reports how many it forgot.
func (c *Conditions) Drop(sites []string) int {
	of := make(map[string]bool, len(sites))
	for _, s := range sites {
		of[s] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k := range c.open {
		if of[k.site] {
			delete(c.open, k)
			n++
		}
	}
	return n
}

// Restore reopens the active condition alerts among records (the open
// alerts a Lifecycle restored), keeping their ids and start times, so the
// same condition seen again after a restart continues its alert instead
// of raising a second one. It emits nothing and reports how many it
// reopened.
func (c *Conditions) Restore(records []Record) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range records {
		if !conditionRules[r.Rule] || r.Level == sensors.LevelNone {
			continue
		}
		k := condKey{r.Rule, r.Site, r.Sensor}
		if _, ok := c.open[k]; ok {
			continue
		}
		c.open[k] = &condition{id: r.ID, level: r.Level, startsAt: r.StartsAt, lastAt: r.LastAt, value: r.Value}
		n++
	}
	return n
}
