package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskmon/riskmon/protocol"
	"github.com/riskmon/riskmon/protocol/sparkplug/spb"
	"github.com/riskmon/riskmon/sensors"
	"google.golang.org/protobuf/proto"
)

// fakeMsg is a message from a source that can say it is stale.
type fakeMsg struct {
	topic   string
	payload []byte
	stale   bool
	replay  bool
	tag     uint64
	acked   atomic.Bool
	naked   atomic.Bool
}

func (m *fakeMsg) Replayed() bool    { return m.replay }
func (m *fakeMsg) StoredTag() uint64 { return m.tag }

func (m *fakeMsg) Topic() string   { return m.topic }
func (m *fakeMsg) Payload() []byte { return m.payload }
func (m *fakeMsg) Ack()            { m.acked.Store(true) }
func (m *fakeMsg) Nak()            { m.naked.Store(true) }
func (m *fakeMsg) Current() bool   { return !m.stale }

// feedParts are what a Feed is built from in these tests: a quiet logger,
// metrics, a dead-letter file and a spool in a temporary folder, closed
// when the test ends (the spool after its last use by the test).
func feedParts(t *testing.T) (*slog.Logger, *Metrics, *DeadLetter, *Spool) {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	dl, err := OpenDeadLetter(DeadLetterOptions{Path: filepath.Join(dir, "dl.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dl.Close() })
	sp, err := OpenSpool(SpoolOptions{Dir: filepath.Join(dir, "spool")}, NewSpoolMetrics(nil), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return log, NewMetrics(nil), dl, sp
}

// TestFeed: a Feed acknowledges a message once its readings are in the
// spool, and one all rejected at once; a message whose source no longer
// trusts it is handed back, neither evaluated nor acknowledged; once
// the feed stops, what is still offered is handed back.
func TestFeed(t *testing.T) {
	log, m, dl, sp := feedParts(t)
	ts := time.Now().Add(-time.Minute).UnixMilli()
	good := &fakeMsg{topic: protocol.ReadingsTopic("hz-01", "gw-1"),
		payload: fmt.Appendf(nil, `{"ts":%d,"readings":[{"sensor":"GT-101","value":3},{"sensor":"PT-201","value":1.2}]}`, ts)}
	stale := &fakeMsg{topic: protocol.ReadingsTopic("hz-01", "gw-1"), stale: true,
		payload: fmt.Appendf(nil, `{"ts":%d,"readings":[{"sensor":"GT-101","value":4}]}`, ts+1000)}
	bad := &fakeMsg{topic: protocol.ReadingsTopic("hz-01", "gw-1"), payload: []byte(`{"ts":`)}
	late := &fakeMsg{topic: protocol.ReadingsTopic("hz-01", "gw-1"), payload: good.payload}

	var mu sync.Mutex
	var evaluated []sensors.Reading
	onRead := func(rs []sensors.Reading) { mu.Lock(); evaluated = append(evaluated, rs...); mu.Unlock() }
	pulled := make(chan func(Message), 1)
	f := NewFeed(FeedOptions{
		Pull: func(ctx context.Context, deliver func(Message)) error {
			for _, msg := range []Message{good, stale, bad} {
				deliver(msg)
			}
			pulled <- deliver
			<-ctx.Done()
			return nil
		},
		IsConnected: func() bool { return true },
	}, testRegistry(t), Limits{}, NewRejecter(m, dl, log, time.Minute), m, sp, onRead, nil, log, nil)

	spCtx, stopSpool := context.WithCancel(context.Background())
	spDone := make(chan error, 1)
	go func() { spDone <- sp.Run(spCtx) }()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	deliver := <-pulled
	waitFor(t, 5*time.Second, "the good and the bad message acknowledged", func() bool { return good.acked.Load() && bad.acked.Load() })
	waitFor(t, 5*time.Second, "the stale message handed back", stale.naked.Load)
	if stale.acked.Load() {
		t.Error("the stale message was acknowledged")
	}
	mu.Lock()
	if len(evaluated) != 2 {
		t.Errorf("evaluated %d readings, want the good message's 2", len(evaluated))
	}
	mu.Unlock()
	if _, n, _ := sp.Backlog(); n != 2 {
		t.Errorf("spool holds %d readings, want 2", n)
	}
	if !f.Connected() || f.Registry().Len() != 3 {
		t.Errorf("connected %v, registry of %d sensors", f.Connected(), f.Registry().Len())
	}

	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deliver(late)
	if !late.naked.Load() || late.acked.Load() {
		t.Errorf("a message offered after the stop: naked %v, acked %v", late.naked.Load(), late.acked.Load())
	}
	stopSpool()
	if err := <-spDone; err != nil {
		t.Fatal(err)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFeedSendsRebirthRequests: a Sparkplug DATA message the feed's
// tracker cannot read (an edge node born before this instance took the
// site, so its aliases are unknown here) asks the edge node to rebirth
// through FeedOptions.Publish, as the Collector does over MQTT.
func TestFeedSendsRebirthRequests(t *testing.T) {
	log, m, dl, sp := feedParts(t)
	data, _ := proto.Marshal(&spb.Payload{Timestamp: proto.Uint64(uint64(time.Now().UnixMilli())), Seq: proto.Uint64(7),
		Metrics: []*spb.Payload_Metric{{Alias: proto.Uint64(3), Value: &spb.Payload_Metric_DoubleValue{DoubleValue: 6}}}})
	msg := &fakeMsg{topic: "spBv1.0/hz-01/NDATA/gw-1", payload: data}
	sent := make(chan string, 1)
	f := NewFeed(FeedOptions{
		Pull: func(ctx context.Context, deliver func(Message)) error {
			deliver(msg)
			<-ctx.Done()
			return nil
		},
		Publish: func(topic string, _ []byte) error { sent <- topic; return nil },
	}, testRegistry(t), Limits{}, NewRejecter(m, dl, log, time.Minute), m, sp, nil, nil, log, nil)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	select {
	case topic := <-sent:
		if topic != "spBv1.0/hz-01/NCMD/gw-1" {
			t.Errorf("sent on %s, want the edge node's NCMD topic", topic)
		}
	case <-time.After(5 * time.Second):
		t.Error("no rebirth request sent")
	}
	waitFor(t, 5*time.Second, "the message acknowledged", msg.acked.Load)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestFeedReplayedAndStored: a message replayed from the cluster's log is
// spooled but not evaluated again; each tagged message's tag is told
// once its readings are stored (the forwarder consumed them), and at once
// for a message with nothing to store.
func TestFeedReplayedAndStored(t *testing.T) {
	log, m, dl, sp := feedParts(t)
	ts := time.Now().Add(-time.Minute).UnixMilli()
	live := &fakeMsg{topic: protocol.ReadingsTopic("hz-01", "gw-1"), tag: 11,
		payload: fmt.Appendf(nil, `{"ts":%d,"readings":[{"sensor":"GT-101","value":3}]}`, ts)}
	again := &fakeMsg{topic: protocol.ReadingsTopic("hz-01", "gw-1"), tag: 12, replay: true,
		payload: fmt.Appendf(nil, `{"ts":%d,"readings":[{"sensor":"GT-101","value":5},{"sensor":"PT-201","value":1.1}]}`, ts+1000)}
	empty := &fakeMsg{topic: protocol.ReadingsTopic("hz-01", "gw-1"), tag: 13, payload: []byte(`{"ts":`)}
	var mu sync.Mutex
	var evaluated int
	var told []uint64
	f := NewFeed(FeedOptions{
		Pull: func(ctx context.Context, deliver func(Message)) error {
			for _, msg := range []Message{live, again, empty} {
				deliver(msg)
			}
			<-ctx.Done()
			return nil
		},
		Stored: func(tag uint64) { mu.Lock(); told = append(told, tag); mu.Unlock() },
	}, testRegistry(t), Limits{}, NewRejecter(m, dl, log, time.Minute), m, sp,
		func(rs []sensors.Reading) { mu.Lock(); evaluated += len(rs); mu.Unlock() }, nil, log, nil)
	spCtx, stopSpool := context.WithCancel(context.Background())
	spDone := make(chan error, 1)
	go func() { spDone <- sp.Run(spCtx) }()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	waitFor(t, 5*time.Second, "all three acknowledged", func() bool { return live.acked.Load() && again.acked.Load() && empty.acked.Load() })
	mu.Lock()
	if evaluated != 1 || !slices.Equal(told, []uint64{13}) {
		t.Errorf("evaluated %d readings (want the live message's 1), told %v before storing (want [13])", evaluated, told)
	}
	mu.Unlock()
	if _, n, _ := sp.Backlog(); n != 3 {
		t.Errorf("spool holds %d readings, want the live and the replayed message's 3", n)
	}
	// The forwarder's part: read and consume everything spooled.
	stopNow := make(chan struct{})
	close(stopNow)
	for {
		var b SpoolBatch
		ok, err := sp.Next(stopNow, 100, time.Millisecond, &b)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if err := sp.Consumed(&b); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	if !slices.Equal(told, []uint64{13, 11, 12}) {
		t.Errorf("told %v once stored, want [13 11 12]", told)
	}
	mu.Unlock()
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	stopSpool()
	<-spDone
}
