package ingest

import (
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// TestSessionStore: received PUBLISH packets are not kept, everything
// paho needs on a reconnect is.
func TestSessionStore(t *testing.T) {
	pub := func(id uint16) packets.ControlPacket {
		p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
		p.Qos, p.MessageID, p.TopicName = 1, id, "t"
		return p
	}
	pubrel := func(id uint16) packets.ControlPacket {
		p := packets.NewControlPacket(packets.Pubrel).(*packets.PubrelPacket)
		p.MessageID = id
		return p
	}
	tests := []struct {
		name string
		key  string
		m    packets.ControlPacket
		kept bool
	}{
		{"received publish", "i.7", pub(7), false},
		{"own publish awaiting PUBACK", "o.7", pub(7), true},
		{"received QoS 2 PUBREL", "i.8", pubrel(8), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSessionStore()
			s.Open()
			defer s.Close()
			s.Put(tt.key, tt.m)
			if got := s.Get(tt.key) != nil; got != tt.kept {
				t.Fatalf("kept = %v, want %v", got, tt.kept)
			}
			if got := len(s.All()); got != map[bool]int{false: 0, true: 1}[tt.kept] {
				t.Fatalf("store holds %d entries", got)
			}
			s.Del(tt.key)
			if s.Get(tt.key) != nil || len(s.All()) != 0 {
				t.Fatal("still held after Del")
			}
		})
	}
}
