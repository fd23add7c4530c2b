package sparkplug

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// HostState is the payload of a Sparkplug 3.0 Host Application STATE
// message, published retained at QoS 1 on StateTopic(host):
//
//	{"online":true,"timestamp":1700000000000}
//
// The birth (online) repeats the timestamp of the will (offline) that the
// same MQTT CONNECT registered, so an edge node can tell a stale will of
// an earlier connection from the present one.
type HostState struct {
	Online    bool  `json:"online"`
	Timestamp int64 `json:"timestamp"` // epoch milliseconds, UTC
}

// StateTopic is the topic of host's STATE messages.
func StateTopic(host string) string { return Namespace + "/STATE/" + host }

// StatePayload encodes the STATE payload for online at the connect time t.
func StatePayload(online bool, t time.Time) []byte {
	// Marshalling a struct of a bool and an int cannot fail.
	b, _ := json.Marshal(HostState{Online: online, Timestamp: t.UnixMilli()})
	return b
}

// ParseHostState decodes a STATE payload. Both keys are required: an
// edge node acting on a STATE without a timestamp could not order it
// against the others.
func ParseHostState(b []byte) (HostState, error) {
	var raw struct {
		Online    *bool  `json:"online"`
		Timestamp *int64 `json:"timestamp"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return HostState{}, fmt.Errorf("STATE payload: %w", err)
	}
	if raw.Online == nil || raw.Timestamp == nil {
		return HostState{}, errors.New(`STATE payload lacks "online" or "timestamp"`)
	}
	return HostState{Online: *raw.Online, Timestamp: *raw.Timestamp}, nil
}
