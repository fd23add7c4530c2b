package ingest

import (
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/riskmon/riskmon/protocol"
	"github.com/riskmon/riskmon/sensors"
)

// fakeMessage is an MQTT message as paho hands it to the handler.
type fakeMessage struct {
	topic   string
	payload []byte
	acked   bool
}

func (m *fakeMessage) Duplicate() bool   { return false }
func (m *fakeMessage) Qos() byte         { return 1 }
func (m *fakeMessage) Retained() bool    { return false }
func (m *fakeMessage) Topic() string     { return m.topic }
func (m *fakeMessage) MessageID() uint16 { return 0 }
func (m *fakeMessage) Payload() []byte   { return m.payload }
func (m *fakeMessage) Ack()              { m.acked = true }

func seqMessage(seq int) *fakeMessage {
	return &fakeMessage{topic: "riskmon/v1/hz-01/gw-1/readings",
		payload: []byte(`{"ts":1764345600000,"seq":` + strconv.Itoa(seq) + `,"readings":[{"sensor":"GT-101","value":1}]}`)}
}

// TestOverflowKeepsGatewayOrder: paho calls the handler in the broker's
// order and the handler must not block, so a message finding its worker
// queue full is left unacknowledged for the broker to send again after a
// reconnect. Were the gateway's next message taken meanwhile (the worker
// having caught up), the worker would see seq 1, 3 and count a message
// lost that was only late. After an overflow every message is left until
// the reconnect, and the redelivery comes in order: the worker sees 1, 2,
// 3 and no gap.
func TestOverflowKeepsGatewayOrder(t *testing.T) {
	m := NewMetrics(nil)
	dl, _ := OpenDeadLetter(DeadLetterOptions{})
	log := slog.New(slog.DiscardHandler)
	c := NewCollector(CollectorOptions{Workers: 1, QueueSize: 1}, testRegistry(t), Limits{},
		NewRejecter(m, dl, log, time.Minute), m, nil, nil, nil, log, nil)
	c.accepting = true
	q := c.queues[0]
	var taken []*fakeMessage
	drain := func() {
		for {
			select {
			case msg := <-q:
				taken = append(taken, msg.(*fakeMessage))
			default:
				return
			}
		}
	}

	// The broker sends 1, 2, 3 while the worker is held up (the alert
	// path busy): 1 fills the queue, 2 finds it full.
	c.handle(nil, seqMessage(1))
	c.handle(nil, seqMessage(2))
	drain() // the worker catches up
	c.handle(nil, seqMessage(3))
	drain()
	if got := testutil.ToFloat64(c.overflow); got < 1 {
		t.Fatalf("overflow counted %v, want at least 1: the test did not overflow", got)
	}
	// The reconnect (recoverOverflow, then connect) makes the broker send
	// again what was not acknowledged, in order.
	c.overflowed.Store(false)
	for _, msg := range []*fakeMessage{seqMessage(2), seqMessage(3)} {
		c.handle(nil, msg)
		drain()
	}

	p := NewProcessor(testRegistry(t), Limits{}, c.rej, m, nil)
	var seqs []int
	now := time.UnixMilli(1764345600000)
	for _, msg := range taken {
		b, err := protocol.NewDecoder(0).Decode(msg.payload)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, int(b.Seq))
		for _, ev := range p.Process(msg.topic, msg.payload, now).Events {
			if ev.Kind == sensors.GatewaySeqGap {
				t.Errorf("worker saw seqs %v: %d messages reported lost", seqs, ev.Missing)
			}
		}
	}
	if got := testutil.ToFloat64(m.SeqGaps); got != 0 {
		t.Errorf("worker saw seqs %v and counted %v lost; nothing was", seqs, got)
	}
	if len(seqs) != 3 || seqs[0] != 1 || seqs[1] != 2 || seqs[2] != 3 {
		t.Errorf("worker saw seqs %v, want [1 2 3]", seqs)
	}
}
