package alerting

import (
	"fmt"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// The alert lifecycle follows industrial alarm management (ISA-18.2 /
// IEC 62682, as OPC UA Part 9 names the states): an alert is active or
// cleared, and acknowledged or not. It leaves the list only when it is
// both cleared and acknowledged, so an alert that came and went unseen
// stays in front of the operator as "resolved, unacknowledged".

// LifecycleState is where an alert stands for the operator.
type LifecycleState uint8

// Lifecycle states.
const (
	StateActiveUnacked  LifecycleState = iota + 1 // condition present, nobody has acknowledged it
	StateActiveAcked                              // condition present, acknowledged
	StateClearedUnacked                           // condition gone, never acknowledged: still shown
	StateLatched                                  // a latched level-1 alert whose condition is gone, waiting for acknowledgement
	StateDone                                     // cleared and acknowledged: off the list, kept a while to be looked up
)

var lifecycleNames = [...]string{"", "active_unacknowledged", "active_acknowledged", "resolved_unacknowledged", "latched", "done"}

func (s LifecycleState) String() string {
	if int(s) < len(lifecycleNames) && s != 0 {
		return lifecycleNames[s]
	}
	return "unknown"
}

// MarshalText encodes the state by name.
func (s LifecycleState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText accepts the names MarshalText writes.
func (s *LifecycleState) UnmarshalText(b []byte) error {
	for i := 1; i < len(lifecycleNames); i++ {
		if string(b) == lifecycleNames[i] {
			*s = LifecycleState(i)
			return nil
		}
	}
	return fmt.Errorf("alerting: unknown lifecycle state %q", b)
}

// Record is one alert as the operator sees it, with its history.
type Record struct {
	ID       string         `json:"id"`
	Rule     string         `json:"rule"`
	Site     string         `json:"site"`
	Sensor   string         `json:"sensor"`
	Kind     sensors.KindID `json:"kind,omitempty"`
	Unit     string         `json:"unit,omitempty"`
	State    LifecycleState `json:"state"`
	Level    sensors.Level  `json:"level"`             // current level; none once cleared
	MaxLevel sensors.Level  `json:"max_level"`         // most severe level reached
	Reached  LevelSet       `json:"reached,omitempty"` // every level it has been at
	Value    float64        `json:"value"`
	Setpoint float64        `json:"setpoint"` // of the last event
	Message  string         `json:"message"`
	StartsAt time.Time      `json:"starts_at"`
	LastAt   time.Time      `json:"last_at"`
	Cleared  time.Time      `json:"cleared,omitzero"`
	AckedBy  string         `json:"acked_by,omitempty"`
	AckedAt  time.Time      `json:"acked_at,omitzero"`
	Comment  string         `json:"comment,omitempty"`
	// Late, Shelved, Planned and Flapping are those of the last event.
	Late     bool   `json:"late,omitempty"`
	Shelved  string `json:"shelved,omitempty"`
	Planned  bool   `json:"planned,omitempty"`
	Flapping bool   `json:"flapping,omitempty"`
	// Notified is when the alert was last notified (fired, escalated or
	// reminded), wall clock; the repeat interval counts from it.
	Notified time.Time `json:"notified,omitzero"`
	// Version counts the record's changes, so a stored copy is never
	// replaced by an older one.
	Version uint64  `json:"version"`
	Events  []Event `json:"events"`
	// EventCount counts every event of the alert, also those no longer
	// kept in Events; zero in a record stored before it was counted.
	EventCount int `json:"event_count,omitempty"`
}

// Damaged is a stored entry that could not be decoded: a damaged record
// of the alert store. It is moved to the quarantine bucket, kept as it
// was for inspection, and everything else is loaded; refusing to start
// over one bad entry would leave every site unmonitored.
type Damaged struct {
	Bucket string    `json:"bucket"`
	Key    string    `json:"key"`
	Err    string    `json:"err"`
	At     time.Time `json:"at"`
}
