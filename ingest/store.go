package ingest

import (
	"strings"
	"sync/atomic"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// inboundPrefix is how paho's store keys what it received ("i.<id>").
const inboundPrefix = "i."

// sessionStore is paho's memory store without the copies of received
// PUBLISH packets. paho puts every QoS 1 message it receives into its
// store until the PUBACK is sent, and takes it out again: a map insert
// and delete under a lock per message, about 4 % of the collector's CPU
// at saturation. Those copies are never read: on a reconnect paho
// discards received PUBLISH packets it finds in the store (the broker
// delivers unacknowledged ones again to our persistent session), and the
// collector keeps each message itself until it acknowledges it.
// Everything else (our own publishes and subscriptions awaiting their
// acknowledgement, a QoS 2 PUBREL) is kept as before.
type sessionStore struct {
	*mqtt.MemoryStore
	// inbound is set once anything received was kept (a QoS 2 PUBREL);
	// until then no inbound key is in the store and deleting one is
	// skipped.
	inbound atomic.Bool
}

func newSessionStore() *sessionStore { return &sessionStore{MemoryStore: mqtt.NewMemoryStore()} }

// Put keeps m under key unless it is a received PUBLISH.
func (s *sessionStore) Put(key string, m packets.ControlPacket) {
	if strings.HasPrefix(key, inboundPrefix) {
		if _, ok := m.(*packets.PublishPacket); ok {
			return
		}
		s.inbound.Store(true)
	}
	s.MemoryStore.Put(key, m)
}

// Del removes key; an inbound key when nothing inbound was ever kept is
// not in the store.
func (s *sessionStore) Del(key string) {
	if strings.HasPrefix(key, inboundPrefix) && !s.inbound.Load() {
		return
	}
	s.MemoryStore.Del(key)
}

// Reset empties the store.
func (s *sessionStore) Reset() {
	s.MemoryStore.Reset()
	s.inbound.Store(false)
}
