package lifecycle

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// A chattering alarm — one that clears and returns again and again, a
// value dancing on its setpoint or a loose connector — pages the operator
// each time and teaches them to ignore it. Alarm-management practice
// (ISA-18.2) counts such alarms; the Flapper also holds them: once the
// alert of a rule and subject has been raised more than Raises times
// within Window, it is held firing and marked flapping, its clears and
// re-raises are absorbed into the one held alert, and it resolves only
// after the condition has stayed clear for Window.

// FlapOptions tune a Flapper. Zero fields take the defaults.
type FlapOptions struct {
	// Raises is how many raises within Window are still normal; one more
	// makes the alert flapping. Default 3.
	Raises int
	// Window is the span raises are counted over, and how long a held
	// alert must stay clear before it resolves, both in device time.
	// Default 10 min.
	Window time.Duration
	// Store keeps the flapping state across a restart.
	Store KV
	// Now is the wall clock, default time.Now. It only carries a
	// subject's device time on between its events: the device time at
	// wall time w is the subject's latest event time plus the wall time
	// since that event arrived.
	Now func() time.Time
}

// Flapper is the Sink stage that holds flapping alerts. Put it right after
// the rule engine and the condition alerts. Safe for concurrent use.
type Flapper struct {
	next alerting.Sink
	opts FlapOptions
	mu   sync.Mutex
	st   map[string]*flapState
}

// flapState is one rule and subject's recent raises and, while it flaps,
// the alert that stands for all of them. Exported fields: it is stored as
// JSON.
type flapState struct {
	Raises []time.Time `json:"raises"` // device times, oldest first, at most Raises+1
	// Held is the id of the alert shown while flapping; empty when not.
	Held         string        `json:"held,omitempty"`
	HeldStartsAt time.Time     `json:"held_starts_at,omitzero"`
	HeldLevel    sensors.Level `json:"held_level,omitempty"`
	// Cur is the id the engine gives the present episode.
	Cur string `json:"cur,omitempty"`
	// Clear is the absorbed resolution of the held alert, while the
	// condition is clear. ClearWall is when it was absorbed on the wall
	// clock; states stored before LastAt was kept are released by it.
	Clear     *alerting.Event `json:"clear,omitempty"`
	ClearWall time.Time       `json:"clear_wall,omitzero"`
	// LastAt is the device time of the subject's latest event and
	// LastWall when that event arrived (wall clock): together they are
	// the subject's device clock.
	LastAt   time.Time `json:"last_at,omitzero"`
	LastWall time.Time `json:"last_wall,omitzero"`
}

// deviceNow is the subject's device time at wall time now: its latest
// event time carried on by the wall time since. A gateway whose clock
// lags the wall clock, or a replay running faster than it, keeps its own
// time here, so raises are counted and holds released on the time the
// rules run on.
func (st *flapState) deviceNow(now time.Time) time.Time {
	if st.LastWall.IsZero() {
		return now
	}
	return st.LastAt.Add(max(now.Sub(st.LastWall), 0))
}

// seen advances the subject's device clock to an event at device time at,
// arriving at wall time wall.
func (st *flapState) seen(at, wall time.Time) {
	if at.After(st.LastAt) || st.LastWall.IsZero() {
		st.LastAt, st.LastWall = at, wall
	}
}

// NewFlapper returns a Flapper passing events to next (nil: nowhere until
// SetNext), with the state kept in opts.Store.
func NewFlapper(next alerting.Sink, opts FlapOptions) (*Flapper, error) {
	if opts.Raises <= 0 {
		opts.Raises = 3
	}
	if opts.Window <= 0 {
		opts.Window = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Flapper{next: orNowhere(next), opts: opts, st: map[string]*flapState{}}
	if opts.Store != nil {
		if err := f.Load(opts.Store); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Load takes up the flapping state kept in kv, replacing what is held
// under the same keys: at start from the store, and in a cluster for the
// sites taken over from another instance.
func (f *Flapper) Load(kv KV) error {
	loaded := map[string]*flapState{}
	err := kv.Each(func(k, v []byte) error {
		st := new(flapState)
		if err := json.Unmarshal(v, st); err != nil {
			return fmt.Errorf("flapping state %s: %w", k, err)
		}
		loaded[string(k)] = st
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore flapping state: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	maps.Copy(f.st, loaded)
	return nil
}

// Drop forgets, without storing or passing on anything, the flapping
// state of the given sites: another instance holds them now.
func (f *Flapper) Drop(sites []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.st {
		if parts := strings.Split(k, "\x00"); len(parts) == 3 && slices.Contains(sites, parts[1]) {
			delete(f.st, k)
		}
	}
}

func flapKey(ev alerting.Event) string { return ev.Rule + "\x00" + ev.Site + "\x00" + ev.Sensor }

// Emit passes ev on, or absorbs it into a held alert.
func (f *Flapper) Emit(ev alerting.Event) {
	if ev.Type != alerting.EventFired && ev.Type != alerting.EventEscalated && ev.Type != alerting.EventDeescalated && ev.Type != alerting.EventResolved {
		f.next.Emit(ev)
		return
	}
	k := flapKey(ev)
	f.mu.Lock()
	st := f.st[k]
	if st == nil {
		if ev.Type != alerting.EventFired {
			f.mu.Unlock()
			f.next.Emit(ev)
			return
		}
		st = &flapState{}
		f.st[k] = st
	}
	st.seen(ev.At, f.opts.Now())
	out, pass, changed := f.stepLocked(st, ev)
	var saved []byte
	if changed && f.opts.Store != nil {
		saved, _ = json.Marshal(st)
	}
	f.mu.Unlock()
	if saved != nil {
		// Lost on a failed write is only the hold across a restart.
		_ = f.opts.Store.Put(k, saved)
	}
	if pass {
		f.next.Emit(out)
	}
}

// stepLocked applies ev to st. It returns the event to pass on (if pass)
// and whether the stored state changed.
func (f *Flapper) stepLocked(st *flapState, ev alerting.Event) (alerting.Event, bool, bool) {
	if st.Held == "" {
		if ev.Type != alerting.EventFired {
			return ev, true, false
		}
		st.addRaise(ev.At, f.opts.Raises+1, f.opts.Window)
		if len(st.Raises) <= f.opts.Raises {
			// Not stored: each commit costs an fsync on the alert path,
			// and raises forgotten in a restart only delay the hold.
			return ev, true, false
		}
		// One raise too many: this alert now stands for the episode.
		st.Held, st.HeldStartsAt, st.HeldLevel, st.Cur = ev.AlertID, ev.StartsAt, ev.Level, ev.AlertID
		ev.Flapping = true
		ev.Message += fmt.Sprintf(" — flapping: raised %d times within %s; held until clear for %s",
			len(st.Raises), f.opts.Window, f.opts.Window)
		return ev, true, true
	}
	if ev.AlertID != st.Cur && ev.Type != alerting.EventFired {
		return ev, true, false // an episode from before the hold, still closing
	}
	held := func(e alerting.Event) alerting.Event {
		e.AlertID, e.StartsAt, e.Flapping = st.Held, st.HeldStartsAt, true
		return e
	}
	switch ev.Type {
	case alerting.EventFired:
		st.addRaise(ev.At, f.opts.Raises+1, f.opts.Window)
		st.Cur = ev.AlertID
		st.Clear, st.ClearWall = nil, time.Time{}
		if !ev.Level.MoreSevere(st.HeldLevel) {
			return ev, false, true // one more toggle, absorbed
		}
		out := held(ev)
		out.Type, out.PrevLevel = alerting.EventEscalated, st.HeldLevel
		st.HeldLevel = ev.Level
		return out, true, true
	case alerting.EventEscalated, alerting.EventDeescalated:
		out := held(ev)
		out.PrevLevel = st.HeldLevel
		st.HeldLevel = ev.Level
		return out, true, true
	default: // EventResolved
		out := held(ev)
		out.PrevLevel = st.HeldLevel
		st.Clear, st.ClearWall = &out, f.opts.Now()
		return ev, false, true
	}
}

// addRaise records a raise at device time at, keeping the last max within
// window of it.
func (st *flapState) addRaise(at time.Time, max int, window time.Duration) {
	st.Raises = append(st.Raises, at)
	i := 0
	for i < len(st.Raises) && (at.Sub(st.Raises[i]) > window || len(st.Raises)-i > max) {
		i++
	}
	st.Raises = st.Raises[i:]
}

// Tick resolves every held alert whose condition has stayed clear for the
// window by now, and forgets the raises of subjects quiet for as long.
// The service calls it every few seconds. It returns how many held alerts
// it resolved.
func (f *Flapper) Tick(now time.Time) int {
	var out []alerting.Event
	var drop, unstore []string
	f.mu.Lock()
	for k, st := range f.st {
		switch {
		case st.Held != "" && st.Clear != nil && f.clearFor(st, now) >= f.opts.Window:
			ev := *st.Clear
			ev.Message += " — stopped flapping"
			out = append(out, ev)
			st.Held, st.Cur, st.Clear, st.ClearWall, st.HeldLevel = "", "", nil, time.Time{}, sensors.LevelNone
			st.Raises = nil
			drop = append(drop, k)
			unstore = append(unstore, k)
		case st.Held == "" && len(st.Raises) > 0 && st.deviceNow(now).Sub(st.Raises[len(st.Raises)-1]) > f.opts.Window:
			// A quiet subject is forgotten once its last raise is a
			// window old on its own device clock.
			drop = append(drop, k)
		}
	}
	for _, k := range drop {
		delete(f.st, k)
	}
	f.mu.Unlock()
	if f.opts.Store != nil {
		for _, k := range unstore {
			_ = f.opts.Store.Delete(k)
		}
	}
	for _, ev := range out {
		f.next.Emit(ev)
	}
	return len(out)
}

// clearFor is how long, in the subject's device time, the held alert's
// condition has been clear at wall time now.
func (f *Flapper) clearFor(st *flapState, now time.Time) time.Duration {
	if st.LastWall.IsZero() {
		return now.Sub(st.ClearWall) // stored before the device clock was kept
	}
	return st.deviceNow(now).Sub(st.Clear.At)
}

// Flapping lists the alerts held for flapping, by id.
func (f *Flapper) Flapping() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, st := range f.st {
		if st.Held != "" {
			ids = append(ids, st.Held)
		}
	}
	return ids
}
