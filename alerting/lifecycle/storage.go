package lifecycle

import "github.com/riskmon/riskmon/alerting"

// RecordStore keeps the open alerts and the hand-off marks of the changes
// not yet confirmed passed on, so a restart neither forgets an alert nor
// loses a notification. The alert store (alerting/store) implements it;
// the lifecycle takes it as an interface so that what only needs its
// logic (replay, tests) does not carry the database.
type RecordStore interface {
	// Records returns every kept alert.
	Records() ([]alerting.Record, error)
	// Handoffs returns the changes whose hand-off was not confirmed.
	Handoffs() ([]alerting.Event, error)
	// PutRecord keeps r, unless a newer version is kept, and with it the
	// hand-off mark of ev when ev is not nil, in one commit.
	PutRecord(r alerting.Record, ev *alerting.Event) error
	// DeleteRecord forgets the alert id kept at version or older, and
	// marks ev for hand-off when it is not nil, in one commit.
	DeleteRecord(id string, version uint64, ev *alerting.Event) error
	// PutHandoff marks ev for hand-off alone.
	PutHandoff(ev *alerting.Event) error
	// HandedOff removes the hand-off mark of key.
	HandedOff(key string) error
}

// KV keeps one kind of small entry (shelves, flapping state) by key.
type KV interface {
	// Each calls fn for every entry; an error of fn stops the walk and
	// is returned.
	Each(fn func(k, v []byte) error) error
	Put(key string, v []byte) error
	Delete(key string) error
}
