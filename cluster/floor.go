package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A message is acknowledged to JetStream once its readings are fsynced
// in the instance's spool, so that intake never waits for InfluxDB. Until
// the forwarder has written them, those readings live on that instance's
// disk alone. So the holder of each partition also keeps its stored
// floor in a replicated bucket: the stream sequence up to which every
// message of the partition it was handed is in InfluxDB. An instance
// that takes a partition over first replays the partition's messages
// from just above the floor to the last one the consumer had delivered,
// writing their readings without evaluating them again (the last holder
// did), then reads on as usual. If the last holder's disk never comes
// back, nothing it acknowledged is lost while the stream keeps it
// (max_age); if it does come back, its spool writes the same points
// again, which InfluxDB overwrites with themselves.

// floorsBucket names the bucket of stored floors.
func (n *Node) floorsBucket() string { return n.opts.Stream + "_stored" }

func floorKey(p int) string { return "p." + strconv.Itoa(p) }

// ensureFloors makes sure the bucket of stored floors exists.
func (n *Node) ensureFloors(ctx context.Context) error {
	kv, err := n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: n.floorsBucket(), History: 1,
		Replicas: n.opts.Replicas, Storage: jetstream.FileStorage,
		Description: "per partition, the stream sequence up to which its messages are stored in InfluxDB"})
	if err != nil {
		return fmt.Errorf("stored-floor bucket %s: %w", n.floorsBucket(), err)
	}
	n.floors = kv
	return nil
}

// Tags name a message to the spool: its stream sequence and partition.
const partitionBits = 10 // MaxPartitions is 1 << partitionBits

func storedTag(seq uint64, p int) uint64 { return seq<<partitionBits | uint64(p) }

func splitTag(tag uint64) (seq uint64, p int) {
	return tag >> partitionBits, int(tag & (1<<partitionBits - 1))
}

// Stored learns that the message tagged tag (Msg.StoredTag) has its
// readings in InfluxDB. Tags of partitions no longer held are ignored.
func (n *Node) Stored(tag uint64) {
	seq, p := splitTag(tag)
	if l, ok := n.get(p); ok {
		l.fl.stored(seq)
	}
}

// floor follows which messages of one held partition are stored.
type floor struct {
	mu sync.Mutex
	// q holds the sequences handed on and not yet known stored, in the
	// order they were handed on (the stream's order, but for
	// redeliveries), with those stored since marked.
	q []floorMark
	// through: every message handed on up to it is stored.
	through uint64
}

type floorMark struct {
	seq    uint64
	stored bool
}

func (f *floor) delivered(seq uint64) {
	f.mu.Lock()
	f.q = append(f.q, floorMark{seq: seq})
	f.mu.Unlock()
}

// forget drops the mark of a message handed back unacknowledged (Nak):
// JetStream delivers it again, to whoever holds the partition then, so it
// is tracked again as a new delivery, or is the next holder's to store.
// Left, its mark would hold the floor below it for the rest of the lease.
func (f *floor) forget(seq uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.q {
		if f.q[i].seq == seq && !f.q[i].stored {
			f.q = append(f.q[:i], f.q[i+1:]...)
			break
		}
	}
}

func (f *floor) stored(seq uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Stored nearly in the order handed on: the mark is near the front.
	for i := range f.q {
		if f.q[i].seq == seq && !f.q[i].stored {
			f.q[i].stored = true
			break
		}
	}
	k := 0
	for k < len(f.q) && f.q[k].stored {
		f.through = max(f.through, f.q[k].seq)
		k++
	}
	f.q = f.q[k:]
}

// start sets the floor the holder starts from.
func (f *floor) start(through uint64) {
	f.mu.Lock()
	f.through = through
	f.mu.Unlock()
}

// value is the floor: just below the lowest message handed on and not
// yet known stored, or through when there is none. Everything handed on
// below it is stored; what was not handed on here below it is either
// below the floor this holder started from, or was replayed.
func (f *floor) value() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	low, found := uint64(0), false
	for _, m := range f.q {
		if !m.stored && (!found || m.seq < low) {
			low, found = m.seq, true
		}
	}
	if !found {
		return f.through
	}
	return low - 1
}

// floorEvery is how often held partitions' floors are written.
const floorEvery = time.Second

// keepFloors writes the floor of every partition held and trusted, when
// it moved, every floorEvery until ctx ends.
func (n *Node) keepFloors(ctx context.Context) {
	t := time.NewTicker(floorEvery)
	defer t.Stop()
	written := map[int]uint64{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, l := range n.leases() {
			v := l.fl.value()
			if w, ok := written[l.p]; !l.replayed.Load() || ok && w == v || !l.current(n.now()) {
				continue
			}
			wctx, cancel := context.WithTimeout(ctx, n.opts.ConnectTimeout)
			_, err := n.floors.Put(wctx, floorKey(l.p), strconv.AppendUint(nil, v, 10))
			cancel()
			if err != nil {
				n.log.Warn("stored floor not written; a takeover would replay more", "partition", l.p, "err", err)
				continue
			}
			written[l.p] = v
		}
	}
}

// replayBatch and replayWait bound one pull of a replay.
const (
	replayBatch = 256
	replayWait  = 500 * time.Millisecond
)

// replay hands on, marked as replayed, the messages of l's partition
// above its stored floor up to the last one its consumer had delivered:
// acknowledged by an earlier holder, perhaps not yet stored. It runs
// before the partition is read. A partition without a floor (its first
// holder, or one from before floors were kept) starts from the
// consumer's delivered sequence.
func (n *Node) replay(ctx context.Context, l *lease, cons jetstream.Consumer, deliver func(*Msg)) (err error) {
	// Until a replay has been handed on whole, this holder writes no
	// floor: the last holder's stays, and the next holder replays from it.
	defer func() {
		if err == nil {
			l.replayed.Store(true)
		}
	}()
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("consumer info: %w", err)
	}
	top := info.Delivered.Stream
	e, err := n.floors.Get(ctx, floorKey(l.p))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		l.fl.start(top)
		return nil
	}
	if err != nil {
		return fmt.Errorf("stored floor: %w", err)
	}
	from, perr := strconv.ParseUint(string(e.Value()), 10, 64)
	if perr != nil {
		// Nothing tells where to replay from; the floor is written
		// afresh from here on.
		n.log.Error("stored floor unreadable; the partition is not replayed, and what only the last holder's disk had is lost unless that disk comes back",
			"partition", l.p, "value", string(e.Value()), "err", perr)
		l.fl.start(top)
		return nil
	}
	l.fl.start(from)
	if from >= top {
		return nil
	}
	if si, err := n.stream.Info(ctx); err == nil && si.State.FirstSeq > from+1 {
		n.log.Error("the stream no longer holds every message above the stored floor (max_age passed); what only the last holder's disk had is lost unless that disk comes back",
			"partition", l.p, "floor", from, "first_in_stream", si.State.FirstSeq)
	}
	oc, err := n.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{partitionFilter(l.p)},
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from + 1})
	if err != nil {
		return fmt.Errorf("replay consumer: %w", err)
	}
	count := 0
	for ctx.Err() == nil && l.current(n.now()) {
		batch, err := oc.Fetch(replayBatch, jetstream.FetchMaxWait(replayWait))
		if err != nil {
			return fmt.Errorf("replay fetch: %w", err)
		}
		got := 0
		for jm := range batch.Messages() {
			got++
			md, err := jm.Metadata()
			if err != nil || md.Sequence.Stream > top {
				n.log.Info("partition replayed above its stored floor", "partition", l.p, "from", from+1, "to", top, "messages", count)
				return nil
			}
			topic, ok := subjectToTopic(jm.Subject())
			if !ok {
				continue
			}
			count++
			l.inflight.Add(1)
			l.fl.delivered(md.Sequence.Stream)
			deliver(&Msg{jm: jm, topic: topic, l: l, n: n, seq: md.Sequence.Stream, replay: true})
		}
		if got == 0 {
			// An empty fetch is not the end: on a busy server the wait
			// can pass before the next message comes. The end is when
			// the partition holds nothing more past what was handed on
			// (what was past top has ended the loop above).
			ci, err := oc.Info(ctx)
			if err != nil {
				return fmt.Errorf("replay consumer info: %w", err)
			}
			if ci.NumPending == 0 {
				n.log.Info("partition replayed above its stored floor", "partition", l.p, "from", from+1, "to", top, "messages", count)
				return nil
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// The lease is not trusted for now (a late renewal, or lost): the
	// replay is unfinished, so it is an error, and no floor is written
	// over the part not re-read until a later try finishes it.
	return errors.New("lease not current during the replay")
}
