package alerting

import (
	"errors"
	"time"
)

// Shelving and out-of-service follow ISA-18.2: an operator may shelve an
// alarm for a while (a known nuisance during a shift), and maintenance
// takes a sensor out of service while it is calibrated. Neither hides
// anything from the record: the alerts are still raised, kept, journaled
// and stored; a shelved alert is not notified, and an alert under
// out-of-service is marked planned (计划性) and not notified either.

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
}

// ShelfRequest asks for a new shelf.
type ShelfRequest struct {
	Mode     ShelfMode     `json:"mode"`
	Match    Matcher       `json:"match"`
	Reason   string        `json:"reason"`
	By       string        `json:"-"`
	Duration time.Duration `json:"-"`
}

// ErrNoShelf is returned when ending a shelf that does not exist or has
// already ended.
var ErrNoShelf = errors.New("no such active shelf")

// ErrBadShelf wraps every reason a ShelfRequest is refused.
var ErrBadShelf = errors.New("invalid shelf")
