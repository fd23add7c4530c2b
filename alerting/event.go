package alerting

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// EventType says what happened to an alert.
type EventType uint8

// Event types. The zero value is not a valid event.
const (
	EventFired        EventType = iota + 1 // a new alert is raised
	EventEscalated                         // the alert moved to a more severe level
	EventDeescalated                       // the alert moved to a less severe level
	EventResolved                          // the alert ended
	EventAcknowledged                      // an operator acknowledged the alert
	// EventReminder repeats the notification of an active level-1 or
	// level-2 alert nobody has acknowledged, or of an alert whose shelf
	// ended while it was still active. It goes to notifiers only: it is
	// not a change of the alert.
	EventReminder
	// EventUpdated restates an open alert at the same level with a new
	// estimate: a forecast whose setpoint is now due in half the time it
	// announced, or less.
	EventUpdated
)

var eventTypeNames = [...]string{"", "fired", "escalated", "deescalated", "resolved", "acknowledged", "reminder", "updated"}

func (t EventType) String() string {
	if int(t) < len(eventTypeNames) && t != 0 {
		return eventTypeNames[t]
	}
	return fmt.Sprintf("event(%d)", uint8(t))
}

// MarshalText encodes the type by name, as JSON payloads carry it.
func (t EventType) MarshalText() ([]byte, error) {
	if t == 0 || int(t) >= len(eventTypeNames) {
		return nil, fmt.Errorf("alerting: invalid event type %d", uint8(t))
	}
	return []byte(eventTypeNames[t]), nil
}

// UnmarshalText accepts the names MarshalText writes.
func (t *EventType) UnmarshalText(b []byte) error {
	for i := 1; i < len(eventTypeNames); i++ {
		if string(b) == eventTypeNames[i] {
			*t = EventType(i)
			return nil
		}
	}
	return fmt.Errorf("alerting: unknown event type %q", b)
}

// Event is one change of one alert: it was fired, escalated, de-escalated
// or resolved. Times are device times in UTC.
type Event struct {
	// AlertID is the same for every event of one alert; see the package
	// documentation.
	AlertID string         `json:"alert_id"`
	Rule    string         `json:"rule"`
	Site    string         `json:"site"`
	Sensor  string         `json:"sensor"`
	Kind    sensors.KindID `json:"kind"`
	Unit    string         `json:"unit"`
	Type    EventType      `json:"type"`
	// Level is the alert's level after the event; LevelNone once resolved.
	Level sensors.Level `json:"level"`
	// PrevLevel is the level before the event; LevelNone when fired.
	PrevLevel sensors.Level `json:"prev_level"`
	// Value is the reading that caused the event.
	Value float64 `json:"value"`
	// Setpoint is the limit Value was compared with: the setpoint of Level
	// for fired and escalated, the restore value that was crossed for
	// deescalated and resolved.
	Setpoint float64 `json:"setpoint"`
	// At is the reading's device time.
	At time.Time `json:"at"`
	// StartsAt is the device time of the first reading of the condition
	// that raised the alert; it does not change while the alert is open.
	StartsAt time.Time `json:"starts_at"`
	Message  string    `json:"message"`
	// By and Comment say who acknowledged, and why, for acknowledged
	// events.
	By      string `json:"by,omitempty"`
	Comment string `json:"comment,omitempty"`
	// Late marks an event caused by readings that arrived long after
	// their device time (a gateway replaying its buffer): it is recorded
	// and shown as retrospective, never paged as if it were happening now.
	Late bool `json:"late,omitempty"`
	// Shelved is the id of the shelf that covered the alert when the event
	// happened; such events are recorded but not notified.
	Shelved string `json:"shelved,omitempty"`
	// Planned marks an event of a sensor out of service (maintenance or
	// calibration): recorded as planned (计划性), not a real alarm.
	Planned bool `json:"planned,omitempty"`
	// Flapping marks an alert held firing because it toggled too often.
	Flapping bool `json:"flapping,omitempty"`
	// Due is when a forecast expects its setpoint to be reached (device
	// time), with DueFrom and DueTo the range it states; zero for other
	// rules.
	Due     time.Time `json:"due,omitzero"`
	DueFrom time.Time `json:"due_from,omitzero"`
	DueTo   time.Time `json:"due_to,omitzero"`
	// Reached is every level the alert has been at up to this event; the
	// lifecycle fills it in. A de-escalation and the end are published on
	// each of those level topics, so a subscriber of one level learns that
	// an alert it saw is no longer at its level.
	Reached LevelSet `json:"reached,omitempty"`
}

// LevelSet is a set of alert levels. It is a bit mask, so an Event stays
// comparable, and encodes in JSON as a list of level numbers, most severe
// first.
type LevelSet uint8

// With returns the set with l added; LevelNone adds nothing.
func (s LevelSet) With(l sensors.Level) LevelSet {
	if l < sensors.LevelRed || l > sensors.LevelBlue {
		return s
	}
	return s | 1<<l
}

// Has reports whether l is in the set.
func (s LevelSet) Has(l sensors.Level) bool { return l <= sensors.LevelBlue && s&(1<<l) != 0 }

// Levels lists the set's levels, most severe first.
func (s LevelSet) Levels() []sensors.Level {
	var out []sensors.Level
	for l := sensors.LevelRed; l <= sensors.LevelBlue; l++ {
		if s.Has(l) {
			out = append(out, l)
		}
	}
	return out
}

// MarshalJSON encodes the set as a list of level numbers.
func (s LevelSet) MarshalJSON() ([]byte, error) {
	// As ints: a []uint8 would encode as a base64 string.
	ls := []int{}
	for _, l := range s.Levels() {
		ls = append(ls, int(l))
	}
	return json.Marshal(ls)
}

// UnmarshalJSON decodes a list of level numbers; numbers that are no
// level are left out.
func (s *LevelSet) UnmarshalJSON(b []byte) error {
	var ls []int
	if err := json.Unmarshal(b, &ls); err != nil {
		return err
	}
	*s = 0
	for _, l := range ls {
		if l > 0 && l <= int(sensors.LevelBlue) {
			*s = s.With(sensors.Level(l))
		}
	}
	return nil
}

// MarshalJSON adds the level's color and severity names next to its
// number, so consumers need not know the scale.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event // drops this method, so json.Marshal does not recurse
	return json.Marshal(struct {
		plain
		Color    string `json:"color"`
		Severity string `json:"severity"`
	}{plain(e), e.Level.Color(), e.Level.Severity()})
}

// Key identifies the change the event records, for idempotent
// notification: the same change seen twice (a redelivered reading, a
// replay after a restart) has the same key, and two changes of one alert
// never share one.
func (e Event) Key() string {
	k := e.AlertID + "/" + e.Type.String() + "/" + strconv.Itoa(int(e.Level)) + "/" + strconv.FormatInt(e.At.UnixNano(), 10)
	if e.Type == EventAcknowledged {
		k += "/" + e.By
	}
	return k
}

// IdempotencyKey is Key in a form fit for an HTTP header and any
// receiver's database: 32 hex digits of its SHA-256. Every send of one
// change carries the same key (retries, and re-sends after a restart), and
// two changes never share one; a receiver that keeps the keys it has seen
// for a day can drop the copies the at-least-once delivery may make.
func (e Event) IdempotencyKey() string {
	sum := sha256.Sum256([]byte(e.Key()))
	return hex.EncodeToString(sum[:16])
}

// TopicLevel is the level an event is filed under: its Level, or for a
// resolved alert the level it had, so a subscriber to red alerts also
// sees them end.
func (e Event) TopicLevel() sensors.Level {
	if e.Level == sensors.LevelNone {
		return e.PrevLevel
	}
	return e.Level
}

// alertID derives an alert's id from what makes it unique: one alert per
// rule and subject at a time, told apart by when its condition began. Being
// derived, the id needs no storage and is the same after a restart that
// restores StartsAt.
func alertID(rule, site, sensor string, startsAt int64) string {
	h := sha256.New()
	for _, s := range [...]string{rule, site, sensor} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(startsAt))
	h.Write(ts[:])
	var sum [sha256.Size]byte
	// 64 bits: an even chance of one collision takes about four billion
	// alerts, far more than a fleet raises.
	return hex.EncodeToString(h.Sum(sum[:0])[:8])
}

// unixTime turns the nanoseconds the engine stores back into a time.
func unixTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }
