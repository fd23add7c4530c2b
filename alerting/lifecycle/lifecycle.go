package lifecycle

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// LifecycleOptions tune the lifecycle.
type LifecycleOptions struct {
	// LatchRed keeps a level-1 alert in the list, latched, after its
	// condition clears, until someone acknowledges it.
	LatchRed bool
	// MaxEvents bounds the history kept per alert (default 100).
	MaxEvents int
	// KeepClosed is how many alerts that left the list (cleared and
	// acknowledged: done) stay in memory to be looked up, newest kept
	// (default 1000). Older ones are in InfluxDB and the journal.
	KeepClosed int
	// CloseCleared closes an alert as soon as its condition clears,
	// without waiting for an acknowledgement: for a lifecycle that only
	// keeps a read model of alerts where nobody acknowledges (a console
	// without the service's lifecycle, a replay). Not for the service.
	CloseCleared bool
	// Now is the clock of acknowledgements and reminders; default time.Now.
	Now func() time.Time
	// Store, when set, keeps every open alert across a restart; Restore
	// loads them back.
	Store RecordStore
	// Repeat is how often an active, unacknowledged alert of a level is
	// notified again (EventReminder), by level; a level not in the map is
	// never repeated. Reminders go to Remind, not to the next sink: they
	// are notifications, not changes of the alert.
	Repeat map[sensors.Level]time.Duration
	Remind alerting.Sink
	// Logger receives store failures; nil discards.
	Logger *slog.Logger
	// StoreRetry is how long a failed write of an alert's state is tried
	// again before it is given up (0: not retried). For a store that a
	// replicated engine keeps and loses for a moment while it elects a
	// new leader: a change written nowhere would leave the next holder of
	// the site an older level, and it would page the same change again.
	// Not for a local file, whose failures do not pass in seconds.
	StoreRetry time.Duration
}

// Lifecycle keeps the alerts operators must see and their acknowledgements.
// It is a Sink: put it between the rule engine and the notifiers, and it
// passes every event on, adding the acknowledgements. Safe for concurrent
// use; it never blocks beyond its own lock and, with a Store, the commit
// of the alert's new state.
type Lifecycle struct {
	next     alerting.Sink
	opts     LifecycleOptions
	logStore rate.Sometimes
	mu       sync.Mutex
	open     map[string]*alerting.Record
	// closed are the alerts that left the list, oldest first, at most
	// opts.KeepClosed, their State StateDone. Guarded by mu.
	closed []*alerting.Record
	// unsent holds the keys of changes recorded in an earlier life whose
	// hand-off to the next stages was never confirmed (a crash between
	// the store's commit and the outbox's): seen again, they are passed
	// on, not dropped as already recorded. Guarded by mu.
	unsent map[string]alerting.Event
	// clearing counts the hand-off marks being cleared (see handOn).
	clearing sync.WaitGroup
}

// NewLifecycle returns an empty lifecycle passing events to next (nil:
// nowhere until SetNext).
func NewLifecycle(next alerting.Sink, opts LifecycleOptions) *Lifecycle {
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = 100
	}
	if opts.KeepClosed <= 0 {
		opts.KeepClosed = 1000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Remind == nil {
		opts.Remind = alerting.SinkFunc(func(alerting.Event) {})
	}
	return &Lifecycle{next: orNowhere(next), opts: opts, open: map[string]*alerting.Record{}, unsent: map[string]alerting.Event{},
		logStore: rate.Sometimes{First: 1, Interval: time.Minute}}
}

// Restore loads the open alerts kept in the store, replacing none that
// are already open, and the changes whose hand-off to the next stages a
// crash cut short (see Redeliver). It reports how many alerts it loaded.
// Damaged entries are quarantined by the store (Store.Quarantined), not
// returned as an error: one bad record must not keep the others out.
func (l *Lifecycle) Restore() (int, error) {
	if l.opts.Store == nil {
		return 0, nil
	}
	recs, err := l.opts.Store.Records()
	if err != nil {
		return 0, fmt.Errorf("restore alerts: %w", err)
	}
	unsent, err := l.opts.Store.Handoffs()
	if err != nil {
		return 0, fmt.Errorf("restore alerts: %w", err)
	}
	return l.Take(recs, unsent), nil
}

// Take takes up records and unconfirmed hand-offs kept elsewhere: what
// Restore reads from the store at start, and what a cluster instance
// reads for the sites it takes over from another. Open alerts already
// held are kept; the hand-offs go out at the next Redeliver. It reports
// how many alerts it took.
func (l *Lifecycle) Take(recs []alerting.Record, unsent []alerting.Event) int {
	n := l.Load(recs)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range unsent {
		l.unsent[ev.Key()] = ev
	}
	return n
}

// Drop forgets, without closing, storing or passing on anything, the
// alerts and pending hand-offs of the given sites: a cluster instance
// that no longer holds them leaves them, as kept in the store, to the
// one that does. It reports how many open alerts it forgot.
func (l *Lifecycle) Drop(sites []string) int {
	if len(sites) == 0 {
		return 0
	}
	of := make(map[string]bool, len(sites))
	for _, s := range sites {
		of[s] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for id, r := range l.open {
		if of[r.Site] {
			delete(l.open, id)
			n++
		}
	}
	l.closed = slices.DeleteFunc(l.closed, func(r *alerting.Record) bool { return of[r.Site] })
	for k, ev := range l.unsent {
		if of[ev.Site] {
			delete(l.unsent, k)
		}
	}
	return n
}

// Load takes up records kept elsewhere (the store, or a console shown
// the alerts a restarted service kept), replacing none that are already
// open, and reports how many it took.
func (l *Lifecycle) Load(recs []alerting.Record) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range recs {
		if _, ok := l.open[r.ID]; ok || (len(r.Events) == 0 && r.State == 0) {
			continue
		}
		r.Events = slices.Clone(r.Events)
		if r.Site == "" && len(r.Events) > 0 {
			// A record made of events alone: its subject is theirs.
			ev := r.Events[0]
			r.Rule, r.Site, r.Sensor, r.Kind, r.Unit = ev.Rule, ev.Site, ev.Sensor, ev.Kind, ev.Unit
		}
		l.open[r.ID] = &r
		n++
	}
	return n
}

// Redeliver passes on, oldest first, every change Restore found recorded
// but not confirmed handed on: the process stopped between the store's
// commit and the next stages (outbox, journal). The outbox refuses a
// change it already holds under the same key, so an alert is not paged
// twice; the journal may hold such a change twice, never not at all. It
// reports how many it passed on.
func (l *Lifecycle) Redeliver() int {
	l.mu.Lock()
	due := make([]alerting.Event, 0, len(l.unsent))
	for _, ev := range l.unsent {
		due = append(due, ev)
	}
	clear(l.unsent)
	l.mu.Unlock()
	slices.SortStableFunc(due, func(a, b alerting.Event) int { return a.At.Compare(b.At) })
	for _, ev := range due {
		l.handOn(ev)
	}
	return len(due)
}

// Emit records ev and passes it on, unless the alert's history already
// holds that very change and its hand-off was confirmed.
func (l *Lifecycle) Emit(ev alerting.Event) {
	l.mu.Lock()
	if r := l.findLocked(ev.AlertID); r != nil && slices.ContainsFunc(r.Events, func(e alerting.Event) bool { return sameChange(&e, &ev) }) {
		// A change already recorded, seen again: a reading redelivered
		// or replayed after a restart. Passing it on would count a second
		// alarm and journal it twice; the outbox would refuse to page it.
		// Unless the last life recorded it and stopped before handing it
		// on: then this is its only chance to be paged and journaled.
		k := ev.Key()
		if _, unsent := l.unsent[k]; !unsent {
			l.mu.Unlock()
			return
		}
		delete(l.unsent, k)
		l.mu.Unlock()
		l.handOn(ev)
		return
	}
	snap, closed := l.applyLocked(ev)
	l.mu.Unlock()
	if snap != nil {
		ev.Reached = snap.Reached
	}
	l.persist(snap, closed, &ev)
	l.handOn(ev)
}

// handOn passes ev to the next stage and then clears its hand-off mark:
// when next.Emit returns, the outbox has committed the change and the
// journal has written it. The clearing is not waited for: a crash before
// it commits only hands the change on once more at the next start, which
// the outbox refuses, and it would cost the emitter a commit (about
// 1.5 ms on its own).
func (l *Lifecycle) handOn(ev alerting.Event) {
	l.next.Emit(ev)
	if l.opts.Store == nil {
		return
	}
	key := ev.Key()
	l.clearing.Go(func() {
		if err := l.opts.Store.HandedOff(key); err != nil {
			l.logStore.Do(func() {
				l.opts.Logger.Error("alert hand-off not recorded; the change may be journaled twice after a restart", "alert_id", ev.AlertID, "err", err)
			})
		}
	})
}

// Flush waits until the hand-off marks of the changes passed on so far are
// cleared in the store; call it before closing the store.
func (l *Lifecycle) Flush() { l.clearing.Wait() }

// persist writes the alert's state after a change, with ev marked as not
// yet handed on (nil: nothing to hand on); snap is nil when nothing
// changed.
func (l *Lifecycle) persist(snap *alerting.Record, closed bool, ev *alerting.Event) {
	if l.opts.Store == nil {
		return
	}
	if snap == nil && ev == nil {
		return
	}
	write := func() error {
		switch {
		case snap == nil:
			// Nothing to store (a resolution of an alert closed already),
			// but the change still goes on and must not be lost on the way.
			return l.opts.Store.PutHandoff(ev)
		case closed:
			return l.opts.Store.DeleteRecord(snap.ID, snap.Version, ev)
		default:
			return l.opts.Store.PutRecord(*snap, ev)
		}
	}
	err := write()
	// Each write is idempotent (a record is kept by version, a mark by
	// the change's key), so trying again after a timeout that did commit
	// changes nothing.
	for wait, until := 100*time.Millisecond, time.Now().Add(l.opts.StoreRetry); err != nil && time.Now().Add(wait).Before(until); wait = min(2*wait, time.Second) {
		time.Sleep(wait)
		err = write()
	}
	if err != nil {
		id := ""
		if snap != nil {
			id = snap.ID
		} else {
			id = ev.AlertID
		}
		l.logStore.Do(func() {
			l.opts.Logger.Error("alert state not saved; it will be missing after a restart", "alert_id", id, "err", err)
		})
	}
}

// applyLocked applies ev and returns a copy of the record to store (nil
// when ev changed nothing) and whether the alert left the list.
func (l *Lifecycle) applyLocked(ev alerting.Event) (*alerting.Record, bool) {
	r, ok := l.open[ev.AlertID]
	if !ok {
		if ev.Type == alerting.EventAcknowledged {
			// One made elsewhere for an alert closed here already (one
			// that closes when it clears): kept in its history, nothing
			// to store.
			if r = l.findLocked(ev.AlertID); r != nil {
				l.ackLocked(r, ev)
			}
			return nil, false
		}
		if ev.Type == alerting.EventResolved {
			return nil, false // the alert was closed here already, or never seen
		}
		if r = l.reopenLocked(ev.AlertID); r == nil {
			r = &alerting.Record{ID: ev.AlertID, Rule: ev.Rule, Site: ev.Site, Sensor: ev.Sensor, Kind: ev.Kind, Unit: ev.Unit,
				State: alerting.StateActiveUnacked, StartsAt: ev.StartsAt}
		}
		l.open[ev.AlertID] = r
	}
	if ev.Type == alerting.EventAcknowledged {
		// One made elsewhere, passed down the path like any change: the
		// record takes it as Ack would.
		closed := l.ackLocked(r, ev)
		c := cloneRecord(r)
		return &c, closed
	}
	r.Version++
	r.Level, r.Value, r.Setpoint, r.Message, r.LastAt = ev.Level, ev.Value, ev.Setpoint, ev.Message, ev.At
	r.Late, r.Shelved, r.Planned, r.Flapping = ev.Late, ev.Shelved, ev.Planned, ev.Flapping
	if ev.Level.MoreSevere(r.MaxLevel) {
		r.MaxLevel = ev.Level
	}
	// MaxLevel too: a record saved before Reached existed.
	r.Reached = r.Reached.With(ev.Level).With(r.MaxLevel)
	l.keepLocked(r, ev)
	closed := false
	switch ev.Type {
	case alerting.EventResolved:
		r.Cleared = ev.At
		switch {
		case r.State == alerting.StateActiveAcked || l.opts.CloseCleared:
			l.closeLocked(r) // seen and gone: done
			closed = true
		case l.opts.LatchRed && r.MaxLevel == sensors.LevelRed:
			r.State = alerting.StateLatched
		default:
			r.State = alerting.StateClearedUnacked
		}
	case alerting.EventFired:
		r.Notified = l.opts.Now().UTC()
		l.activeLocked(r)
	case alerting.EventEscalated:
		r.Notified = l.opts.Now().UTC()
		// A worse level is news: it needs acknowledging again.
		r.State, r.AckedBy, r.AckedAt, r.Comment = alerting.StateActiveUnacked, "", time.Time{}, ""
		r.Cleared = time.Time{}
	default:
		l.activeLocked(r)
	}
	c := cloneRecord(r)
	return &c, closed
}

// activeLocked marks the condition present again on an alert whose
// condition had cleared: the engine restored an alert it had seen end.
func (l *Lifecycle) activeLocked(r *alerting.Record) {
	if r.State == alerting.StateClearedUnacked || r.State == alerting.StateLatched {
		r.State, r.Cleared = alerting.StateActiveUnacked, time.Time{}
	}
}

// keepLocked adds ev to the record's history, dropping the oldest beyond
// MaxEvents.
func (l *Lifecycle) keepLocked(r *alerting.Record, ev alerting.Event) {
	if r.EventCount < len(r.Events) {
		r.EventCount = len(r.Events) // a record stored before events were counted
	}
	r.EventCount++
	r.Events = append(r.Events, ev)
	if len(r.Events) > l.opts.MaxEvents {
		r.Events = slices.Delete(r.Events, 0, len(r.Events)-l.opts.MaxEvents)
	}
}

// ackLocked records an acknowledgement on r and reports whether the alert
// left the list: a cleared one is then done.
func (l *Lifecycle) ackLocked(r *alerting.Record, ev alerting.Event) bool {
	r.AckedBy, r.AckedAt, r.Comment = ev.By, ev.At, ev.Comment
	r.Version++
	l.keepLocked(r, ev)
	switch r.State {
	case alerting.StateActiveUnacked:
		r.State = alerting.StateActiveAcked
	case alerting.StateClearedUnacked, alerting.StateLatched:
		l.closeLocked(r)
		return true
	}
	return false
}

// closeLocked takes r off the list and keeps it among the closed ones.
func (l *Lifecycle) closeLocked(r *alerting.Record) {
	delete(l.open, r.ID)
	r.State = alerting.StateDone
	l.closed = append(l.closed, r)
	if n := len(l.closed) - l.opts.KeepClosed; n > 0 {
		clear(l.closed[:n])
		l.closed = slices.Delete(l.closed, 0, n)
	}
}

// reopenLocked takes an alert back from the closed ones (the engine
// restored an alert that had ended), or returns nil.
func (l *Lifecycle) reopenLocked(id string) *alerting.Record {
	for i, r := range l.closed {
		if r.ID == id {
			l.closed = slices.Delete(l.closed, i, i+1)
			r.State, r.Cleared = alerting.StateActiveUnacked, time.Time{}
			r.AckedBy, r.AckedAt, r.Comment = "", time.Time{}, ""
			return r
		}
	}
	return nil
}

// findLocked returns the open or recently closed alert id, or nil.
func (l *Lifecycle) findLocked(id string) *alerting.Record {
	if r, ok := l.open[id]; ok {
		return r
	}
	for i := len(l.closed) - 1; i >= 0; i-- {
		if l.closed[i].ID == id {
			return l.closed[i]
		}
	}
	return nil
}

// ErrNoAlert is returned for an acknowledgement of an unknown alert.
var ErrNoAlert = errors.New("no such open alert")

// Ack acknowledges an open alert on behalf of user, with a comment. A
// cleared alert then leaves the list. The acknowledgement goes out as an
// event like any other.
func (l *Lifecycle) Ack(id, user, comment string) (alerting.Record, error) {
	if strings.TrimSpace(user) == "" {
		return alerting.Record{}, errors.New("an acknowledgement needs the user's name")
	}
	now := l.opts.Now()
	l.mu.Lock()
	r, ok := l.open[id]
	if !ok {
		l.mu.Unlock()
		return alerting.Record{}, fmt.Errorf("acknowledge %s: %w", id, ErrNoAlert)
	}
	ev := alerting.Event{AlertID: r.ID, Rule: r.Rule, Site: r.Site, Sensor: r.Sensor, Kind: r.Kind, Unit: r.Unit,
		Type: alerting.EventAcknowledged, Level: r.Level, PrevLevel: r.Level, Value: r.Value, At: now.UTC(), StartsAt: r.StartsAt,
		By: user, Comment: comment,
		Message: fmt.Sprintf("%s %s at %s acknowledged by %s", r.Rule, r.Sensor, r.Site, user)}
	if comment != "" {
		ev.Message += ": " + comment
	}
	ev.Late, ev.Shelved, ev.Planned, ev.Flapping = r.Late, r.Shelved, r.Planned, r.Flapping
	ev.Reached = r.Reached
	closed := l.ackLocked(r, ev)
	out := cloneRecord(r)
	l.mu.Unlock()
	l.persist(&out, closed, &ev)
	l.handOn(ev)
	return out, nil
}

// Remind notifies again every active alert nobody has acknowledged whose
// level has a repeat interval in LifecycleOptions.Repeat and that was
// last notified at least that long before now. Shelved and planned alerts
// are not repeated. The service calls it every few seconds. It reports
// how many reminders went out.
func (l *Lifecycle) Remind(now time.Time) int {
	if len(l.opts.Repeat) == 0 {
		return 0
	}
	var due []alerting.Event
	var snaps []alerting.Record
	l.mu.Lock()
	for _, r := range l.open {
		every, ok := l.opts.Repeat[r.Level]
		if !ok || every <= 0 || r.State != alerting.StateActiveUnacked || r.Shelved != "" || r.Planned {
			continue
		}
		if now.Sub(r.Notified) < every {
			continue
		}
		r.Notified = now.UTC()
		r.Version++
		due = append(due, reminder(r, now, fmt.Sprintf("still active and not acknowledged since %s: %s",
			r.StartsAt.Format(time.RFC3339), r.Message)))
		snaps = append(snaps, cloneRecord(r))
	}
	l.mu.Unlock()
	for i := range due {
		l.persist(&snaps[i], false, nil)
		l.opts.Remind.Emit(due[i])
	}
	return len(due)
}

// ShelfEnded takes the shelf's mark off the alerts it covered. An alert
// still active and unacknowledged is announced again with a reminder, as
// an unshelved alarm returns to the operator.
func (l *Lifecycle) ShelfEnded(sh Shelf, now time.Time) {
	var due []alerting.Event
	var snaps []alerting.Record
	l.mu.Lock()
	for _, r := range l.open {
		if r.Shelved != sh.ID {
			continue
		}
		r.Shelved, r.Planned = "", false
		r.Version++
		if r.State == alerting.StateActiveUnacked {
			r.Notified = now.UTC()
			due = append(due, reminder(r, now, fmt.Sprintf("%s ended; still active: %s", sh.Mode, r.Message)))
		}
		snaps = append(snaps, cloneRecord(r))
	}
	l.mu.Unlock()
	for i := range snaps {
		l.persist(&snaps[i], false, nil)
	}
	for _, ev := range due {
		l.opts.Remind.Emit(ev)
	}
}

func reminder(r *alerting.Record, now time.Time, msg string) alerting.Event {
	return alerting.Event{AlertID: r.ID, Rule: r.Rule, Site: r.Site, Sensor: r.Sensor, Kind: r.Kind, Unit: r.Unit,
		Type: alerting.EventReminder, Level: r.Level, PrevLevel: r.Level, Value: r.Value, Setpoint: r.Setpoint, At: now.UTC(), StartsAt: r.StartsAt,
		Late: r.Late, Flapping: r.Flapping, Message: msg}
}

// Open lists the alerts in front of the operator: most severe first, then
// newest first.
func (l *Lifecycle) Open() []alerting.Record {
	l.mu.Lock()
	out := make([]alerting.Record, 0, len(l.open))
	for _, r := range l.open {
		out = append(out, cloneRecord(r))
	}
	l.mu.Unlock()
	slices.SortFunc(out, func(a, b alerting.Record) int {
		la, lb := effective(a), effective(b)
		if la != lb {
			return int(la) - int(lb)
		}
		return b.StartsAt.Compare(a.StartsAt)
	})
	return out
}

// Get returns one open alert.
func (l *Lifecycle) Get(id string) (alerting.Record, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.open[id]
	if !ok {
		return alerting.Record{}, false
	}
	return cloneRecord(r), true
}

// Recent lists the open alerts and the recently closed ones (StateDone),
// in no order: the read model of alerts the console serves.
func (l *Lifecycle) Recent() []alerting.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]alerting.Record, 0, len(l.open)+len(l.closed))
	for _, r := range l.open {
		out = append(out, cloneRecord(r))
	}
	for _, r := range l.closed {
		out = append(out, cloneRecord(r))
	}
	return out
}

// Find returns an open or recently closed alert.
func (l *Lifecycle) Find(id string) (alerting.Record, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r := l.findLocked(id); r != nil {
		return cloneRecord(r), true
	}
	return alerting.Record{}, false
}

// effective orders cleared alerts by the level they reached, after the
// active ones of the same level.
func effective(r alerting.Record) sensors.Level {
	if r.Level != sensors.LevelNone {
		return r.Level
	}
	return r.MaxLevel
}

func cloneRecord(r *alerting.Record) alerting.Record {
	c := *r
	c.Events = slices.Clone(r.Events)
	return c
}

// sameChange reports whether a and b record the same change of one alert:
// what Key compares, without building the strings.
func sameChange(a, b *alerting.Event) bool {
	return a.AlertID == b.AlertID && a.Type == b.Type && a.Level == b.Level && a.At.Equal(b.At) &&
		(a.Type != alerting.EventAcknowledged || a.By == b.By)
}
