package lifecycle

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// Shelving and out-of-service follow ISA-18.2: an operator may shelve an
// alarm for a while (a known nuisance during a shift), and maintenance
// takes a sensor out of service while it is calibrated. Neither hides
// anything from the record: the alerts are still raised, kept, journaled
// and stored; a shelved alert is not notified, and an alert under
// out-of-service is marked planned (计划性) and not notified either.
//
// Shelving is per alarm in ISA-18.2, and a shelf that reaches further can
// silence a site. So whoever is not an admin may shelve one alarm only
// (site, sensor and rule all named), not while it is red, and their shelf
// never covers a red event: an alarm that escalates to red under it is
// notified. Wider scopes (a site, a kind fleet-wide), out-of-service and
// the shelving of a red alarm need admin rights. Every scope is checked
// against the registry, so an unknown site, sensor or kind (or "*") is
// refused instead of covering nothing or everything.

// ShelfMode says why alerts are set aside.
type ShelfMode string

// Shelf modes.
const (
	// ModeShelved is an operator's temporary suppression, bounded by the
	// maximum shelving time.
	ModeShelved ShelfMode = "shelved"
	// ModeOutOfService is maintenance or calibration: alerts raised while
	// it holds are planned, not real.
	ModeOutOfService ShelfMode = "out_of_service"
)

// Matcher picks the alerts a shelf covers: every non-empty field must
// equal the alert's. Sensor is matched within Site when both are given;
// Kind is the sensor kind.
type Matcher struct {
	Site   string `json:"site,omitempty" yaml:"site"`
	Sensor string `json:"sensor,omitempty" yaml:"sensor"`
	Rule   string `json:"rule,omitempty" yaml:"rule"`
	Kind   string `json:"kind,omitempty" yaml:"kind"`
}

// Shelf is one shelving or out-of-service period, as set and as ended.
type Shelf struct {
	ID      string    `json:"id"`
	Mode    ShelfMode `json:"mode"`
	Match   Matcher   `json:"match"`
	Reason  string    `json:"reason"`
	By      string    `json:"by"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// Ended is set when the shelf was removed before it expired.
	Ended   time.Time `json:"ended,omitzero"`
	EndedBy string    `json:"ended_by,omitempty"`
	// CoversRed is set on an admin's shelf: it covers red events too.
	// Any other shelf lets them through, so they are notified.
	CoversRed bool `json:"covers_red,omitempty"`
}

// ShelfRequest asks for a new shelf.
type ShelfRequest struct {
	Mode     ShelfMode     `json:"mode"`
	Match    Matcher       `json:"match"`
	Reason   string        `json:"reason"`
	By       string        `json:"-"`
	Duration time.Duration `json:"-"`
	// Admin says the requester holds admin rights, which wider scopes,
	// out-of-service and the shelving of a red alarm need.
	Admin bool `json:"-"`
}

// ErrNoShelf is returned when ending a shelf that does not exist or has
// already ended.
var ErrNoShelf = errors.New("no such active shelf")

// ErrBadShelf wraps every reason a ShelfRequest is refused as invalid.
var ErrBadShelf = errors.New("invalid shelf")

// ErrShelfNeedsAdmin wraps the refusal of a valid request that only an
// admin may make.
var ErrShelfNeedsAdmin = errors.New("needs admin rights")

// Refusal codes name each reason a shelf is refused, so that a console
// can say it in its operator's language; the error's text stays English
// for logs and API clients.
const (
	RefusedMode         = "mode"          // neither shelved nor out_of_service
	RefusedEmptyMatch   = "empty_match"   // the matcher names nothing
	RefusedSensorSite   = "sensor_site"   // a sensor without its site
	RefusedReason       = "reason"        // no reason given
	RefusedBy           = "by"            // nobody named as setting it
	RefusedDuration     = "duration"      // no or a negative duration
	RefusedTooLong      = "too_long"      // beyond the mode's maximum
	RefusedWildcard     = "wildcard"      // "*" in the matcher
	RefusedUnknownScope = "unknown_scope" // a site, sensor or kind the registry lacks
	RefusedOutOfService = "admin_oos"     // out of service needs an admin
	RefusedWideScope    = "admin_scope"   // more than one alarm needs an admin
	RefusedRedAlarm     = "admin_red"     // shelving a red alarm needs an admin
)

// ShelfRefusal is one reason a shelf request is refused, with its code
// (the Refused constants); it is wrapped in ErrBadShelf or
// ErrShelfNeedsAdmin.
type ShelfRefusal struct {
	Code string
	Err  error
}

func (r *ShelfRefusal) Error() string { return r.Err.Error() }
func (r *ShelfRefusal) Unwrap() error { return r.Err }

func refused(code string, err error) error { return &ShelfRefusal{Code: code, Err: err} }

// RefusalCodes are the codes of every ShelfRefusal in err's tree, in
// order: a request can be refused for several reasons at once.
func RefusalCodes(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if r, ok := err.(*ShelfRefusal); ok {
			out = append(out, r.Code)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// ShelvesOptions tune Shelves. Zero fields take the defaults.
type ShelvesOptions struct {
	// MaxShelve bounds a shelving; default 8 h, one shift, so a shelved
	// alarm cannot be forgotten across a handover.
	MaxShelve time.Duration
	// MaxOutOfService bounds an out-of-service period; default 7 days,
	// long enough for a calibration campaign.
	MaxOutOfService time.Duration
	// Store keeps the active shelves across a restart.
	Store KV
	// OnEnd is called, outside any lock, with every shelf that ends by
	// expiry or removal; the service hands it to Lifecycle.ShelfEnded.
	OnEnd func(Shelf, time.Time)
	// CheckMatch checks a matcher against the registry: a site, sensor
	// or kind that does not exist is an error. Nil checks nothing.
	CheckMatch func(Matcher) error
	// Open lists the open alerts, so that shelving a red one can be left
	// to an admin. Nil: no alert is known to be red.
	Open func() []alerting.Record
	// Now is the clock of expiry; default time.Now.
	Now func() time.Time
}

// Shelves holds the active shelves and marks the events they cover. It is
// a Sink: put it between the rule engine and the lifecycle, so the marks
// reach every record, the journal and the dispatcher, which does not
// notify marked events. Safe for concurrent use.
type Shelves struct {
	next   alerting.Sink
	opts   ShelvesOptions
	mu     sync.RWMutex
	active []Shelf // few: a scan beats an index
}

// NewShelves returns the shelves kept in opts.Store (none without one),
// passing events to next (nil: nowhere until SetNext).
func NewShelves(next alerting.Sink, opts ShelvesOptions) (*Shelves, error) {
	if opts.MaxShelve <= 0 {
		opts.MaxShelve = 8 * time.Hour
	}
	if opts.MaxOutOfService <= 0 {
		opts.MaxOutOfService = 7 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OnEnd == nil {
		opts.OnEnd = func(Shelf, time.Time) {}
	}
	s := &Shelves{next: orNowhere(next), opts: opts}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload replaces the active shelves with those kept in the store: at
// start, and in a cluster, where another instance may have shelved or
// unshelved since, when this one takes sites over. Without a store it
// does nothing.
func (s *Shelves) Reload() error {
	if s.opts.Store == nil {
		return nil
	}
	var active []Shelf
	err := s.opts.Store.Each(func(k, v []byte) error {
		var sh Shelf
		if err := json.Unmarshal(v, &sh); err != nil {
			return fmt.Errorf("shelf %s: %w", k, err)
		}
		active = append(active, sh)
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore shelves: %w", err)
	}
	slices.SortFunc(active, func(a, b Shelf) int { return a.Created.Compare(b.Created) })
	s.mu.Lock()
	s.active = active
	s.mu.Unlock()
	return nil
}

// Emit marks ev with the shelf that covers it, if any, and passes it on.
func (s *Shelves) Emit(ev alerting.Event) {
	now := s.opts.Now()
	s.mu.RLock()
	for _, sh := range s.active {
		if red := ev.Level == sensors.LevelRed || ev.PrevLevel == sensors.LevelRed; red && !sh.CoversRed {
			continue // red gets through an operator's shelf, and so does its way down
		}
		if now.Before(sh.Expires) && sh.covers(ev.Site, ev.Sensor, ev.Rule, string(ev.Kind)) {
			if ev.Shelved == "" {
				ev.Shelved = sh.ID
			}
			if sh.Mode == ModeOutOfService {
				ev.Planned = true
			}
		}
	}
	s.mu.RUnlock()
	s.next.Emit(ev)
}

func (sh Shelf) covers(site, sensor, rule, kind string) bool {
	m := sh.Match
	return (m.Site == "" || m.Site == site) && (m.Sensor == "" || m.Sensor == sensor) &&
		(m.Rule == "" || m.Rule == rule) && (m.Kind == "" || m.Kind == kind)
}

// Shelve sets a new shelf. Every field is checked: a mode, a matcher that
// names at least a site, a rule or a kind (a sensor only within its
// site), a reason, who sets it, and a duration within the mode's maximum.
func (s *Shelves) Shelve(req ShelfRequest) (Shelf, error) {
	var errs []error
	var limit time.Duration
	switch req.Mode {
	case ModeShelved:
		limit = s.opts.MaxShelve
	case ModeOutOfService:
		limit = s.opts.MaxOutOfService
	default:
		errs = append(errs, refused(RefusedMode, fmt.Errorf("mode %q: want %q or %q", req.Mode, ModeShelved, ModeOutOfService)))
	}
	m := req.Match
	if m == (Matcher{}) {
		errs = append(errs, refused(RefusedEmptyMatch, errors.New("match: name a site, sensor, rule or kind; shelving everything is not allowed")))
	}
	if m.Sensor != "" && m.Site == "" {
		errs = append(errs, refused(RefusedSensorSite, errors.New("match: a sensor needs its site")))
	}
	if strings.TrimSpace(req.Reason) == "" {
		errs = append(errs, refused(RefusedReason, errors.New("reason: required, for the record")))
	}
	if strings.TrimSpace(req.By) == "" {
		errs = append(errs, refused(RefusedBy, errors.New("by: the user setting the shelf is required")))
	}
	switch {
	case req.Duration <= 0:
		errs = append(errs, refused(RefusedDuration, errors.New("duration: required and positive")))
	case limit > 0 && req.Duration > limit:
		errs = append(errs, refused(RefusedTooLong, fmt.Errorf("duration %s: longer than the %s maximum for %s", req.Duration, limit, req.Mode)))
	}
	if m.Site == "*" || m.Sensor == "*" || m.Rule == "*" || m.Kind == "*" {
		errs = append(errs, refused(RefusedWildcard, errors.New(`match: "*" is not a wildcard; leave a field out to cover all its values (admin only)`)))
	} else if s.opts.CheckMatch != nil && m != (Matcher{}) {
		if err := s.opts.CheckMatch(m); err != nil {
			errs = append(errs, refused(RefusedUnknownScope, fmt.Errorf("match: %w", err)))
		}
	}
	if len(errs) > 0 {
		return Shelf{}, fmt.Errorf("%w: %w", ErrBadShelf, errors.Join(errs...))
	}
	if !req.Admin {
		if err := s.operatorMay(req); err != nil {
			return Shelf{}, fmt.Errorf("%w: %w", ErrShelfNeedsAdmin, err)
		}
	}
	now := s.opts.Now().UTC()
	sh := Shelf{ID: newShelfID(), Mode: req.Mode, Match: m, Reason: strings.TrimSpace(req.Reason), By: req.By,
		Created: now, Expires: now.Add(req.Duration), CoversRed: req.Admin}
	if s.opts.Store != nil {
		b, err := json.Marshal(sh)
		if err == nil {
			err = s.opts.Store.Put(sh.ID, b)
		}
		if err != nil {
			return Shelf{}, fmt.Errorf("save shelf: %w", err)
		}
	}
	s.mu.Lock()
	s.active = append(s.active, sh)
	s.mu.Unlock()
	return sh, nil
}

// operatorMay says why a request without admin rights is refused: it
// must shelve one alarm that is not red now.
func (s *Shelves) operatorMay(req ShelfRequest) error {
	m := req.Match
	if req.Mode != ModeShelved {
		return refused(RefusedOutOfService, errors.New("taking sensors out of service"))
	}
	if m.Site == "" || m.Sensor == "" || m.Rule == "" {
		return refused(RefusedWideScope, errors.New("a scope wider than one alarm (shelving is per alarm: name its site, sensor and rule)"))
	}
	if s.opts.Open != nil {
		for _, r := range s.opts.Open() {
			if r.Level == sensors.LevelRed && s.coversMatch(m, r) {
				return refused(RefusedRedAlarm, fmt.Errorf("shelving a red alarm (%s at %s/%s is red now)", r.Rule, r.Site, r.Sensor))
			}
		}
	}
	return nil
}

func (s *Shelves) coversMatch(m Matcher, r alerting.Record) bool {
	return Shelf{Match: m}.covers(r.Site, r.Sensor, r.Rule, string(r.Kind))
}

// Unshelve ends an active shelf now, on behalf of by.
func (s *Shelves) Unshelve(id, by string) (Shelf, error) {
	now := s.opts.Now().UTC()
	s.mu.Lock()
	i := slices.IndexFunc(s.active, func(sh Shelf) bool { return sh.ID == id })
	if i < 0 {
		s.mu.Unlock()
		return Shelf{}, fmt.Errorf("unshelve %s: %w", id, ErrNoShelf)
	}
	sh := s.active[i]
	s.active = slices.Delete(s.active, i, i+1)
	s.mu.Unlock()
	sh.Ended, sh.EndedBy = now, by
	s.forget(sh)
	s.opts.OnEnd(sh, now)
	return sh, nil
}

// Shelves lists the active shelves, oldest first.
func (s *Shelves) Shelves() []Shelf {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.active)
}

// Tick ends the shelves that expired by now and returns them.
func (s *Shelves) Tick(now time.Time) []Shelf {
	s.mu.Lock()
	var ended []Shelf
	s.active = slices.DeleteFunc(s.active, func(sh Shelf) bool {
		if now.Before(sh.Expires) {
			return false
		}
		ended = append(ended, sh)
		return true
	})
	s.mu.Unlock()
	for _, sh := range ended {
		s.forget(sh)
		s.opts.OnEnd(sh, now)
	}
	return ended
}

// forget drops an ended shelf from the store; the journal keeps its
// record. A failure only means it is dropped again after a restart, when
// it has expired or is found ended.
func (s *Shelves) forget(sh Shelf) {
	if s.opts.Store != nil {
		_ = s.opts.Store.Delete(sh.ID)
	}
}

func newShelfID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}

// OnShelfEnd returns the shelves' OnEnd: back returns the ended shelf's
// alerts to the operator (Lifecycle.ShelfEnded), and expired, if not
// nil, records an expiry; a removal is recorded by whoever removed it.
func OnShelfEnd(back func(Shelf, time.Time), expired func(at time.Time, user, comment string)) func(Shelf, time.Time) {
	return func(sh Shelf, now time.Time) {
		back(sh, now)
		if sh.Ended.IsZero() && expired != nil {
			expired(now, sh.By, fmt.Sprintf("%s %s (%s) expired", sh.Mode, sh.ID, sh.Reason))
		}
	}
}
