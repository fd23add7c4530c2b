package cluster

import (
	"context"
	"errors"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A lease is this instance's hold on one partition: the key p.{n} in the
// lease bucket, written by this instance and renewed by compare-and-set
// on its revision. The bucket's TTL removes a key nobody renews, and only
// then can another instance create it: JetStream, not riskmon, decides
// who holds a partition.
type lease struct {
	p   int
	rev uint64
	// deadline is when, on the node's monotonic clock, this instance
	// stops trusting the lease unless a renewal lands first. It is set
	// from the time a renewal was sent, less a margin, so it always ends
	// before the server can expire the key and let another take it.
	deadline atomic.Int64
	// inflight counts messages handed on and not yet acknowledged.
	inflight atomic.Int64
	stop     context.CancelFunc
	done     chan struct{}
	// releasing is set once a graceful release has begun.
	releasing bool
	// since is when this instance took the lease.
	since time.Time
	// fl follows which of the partition's messages are stored;
	// replayed is set once the replay above the last floor is handed on.
	fl       floor
	replayed atomic.Bool
}

func leaseKey(p int) string             { return "p." + strconv.Itoa(p) }
func memberKey(id string) string        { return "m." + id }
func (l *lease) current(now int64) bool { return now < l.deadline.Load() }

// trust is how long after a renewal was sent the lease is trusted: the
// TTL less a tenth for clock-rate differences between hosts.
func (n *Node) trust() int64 { return int64(n.opts.LeaseTTL - n.opts.LeaseTTL/10) }

// Run keeps this instance's share of the partitions until ctx ends: it
// renews its leases and its heartbeat every third of the lease TTL,
// takes free partitions up to its fair share, gives up those above it,
// and reads each owned partition, handing every message to deliver.
// deliver may block; it must eventually Ack or Nak the message. On
// return no partition is read any more; the leases are kept until Close,
// so what was handed on can still be acknowledged.
func (n *Node) Run(ctx context.Context, deliver func(*Msg)) error {
	t := time.NewTicker(n.opts.LeaseTTL / 3)
	defer t.Stop()
	// The figures on a loop of their own, so a slow answer never delays
	// a renewal.
	lagDone := make(chan struct{})
	go func() { defer close(lagDone); n.watchLag(ctx) }()
	defer func() { <-lagDone }()
	floorsDone := make(chan struct{})
	go func() { defer close(floorsDone); n.keepFloors(ctx) }()
	defer func() { <-floorsDone }()
	for {
		n.tick(ctx, deliver)
		select {
		case <-ctx.Done():
			n.stopReading()
			return nil
		case <-t.C:
		}
	}
}

// tick is one round of the ownership loop.
func (n *Node) tick(ctx context.Context, deliver func(*Msg)) {
	sent := n.now()
	rctx, cancel := context.WithTimeout(ctx, n.opts.LeaseTTL/3)
	defer cancel()
	if _, err := n.kv.Put(rctx, memberKey(n.opts.Instance), []byte(n.opts.Instance)); err != nil && ctx.Err() == nil {
		n.log.Warn("cluster heartbeat not written", "err", err)
	}
	n.renew(rctx, sent)
	members, taken, err := n.survey(rctx)
	if err != nil {
		if ctx.Err() == nil {
			n.log.Warn("cluster leases not listed; keeping what is held", "err", err)
		}
		return
	}
	share := (n.opts.Partitions + members - 1) / max(members, 1)
	n.m.Members.Set(float64(members))
	if n.kept() > share {
		n.releaseOne(ctx)
		return
	}
	for _, p := range n.preference() {
		if n.kept() >= share {
			break
		}
		if _, mine := n.get(p); mine || taken[p] {
			continue
		}
		n.acquire(rctx, ctx, p, sent, deliver)
	}
	n.m.Owned.Set(float64(n.count()))
}

// renew extends every lease held. A revision conflict means the key was
// removed (expired while this instance was away) and someone else may
// hold it now: that partition is dropped at once.
func (n *Node) renew(ctx context.Context, sent int64) {
	for _, l := range n.leases() {
		rev, err := n.kv.Update(ctx, leaseKey(l.p), []byte(n.opts.Instance), l.rev)
		switch {
		case err == nil:
			n.mu.Lock()
			l.rev = rev
			n.mu.Unlock()
			l.deadline.Store(sent + n.trust())
			n.m.Renewals.Inc()
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists):
			n.log.Warn("partition lease lost; standing down from it", "partition", l.p)
			n.m.Lost.Inc()
			n.lose(l)
		default:
			// Not renewed this round: the deadline runs on, and past it
			// the partition's messages are left for the next holder.
			n.log.Warn("partition lease not renewed", "partition", l.p, "err", err)
		}
	}
}

// survey reads the bucket: how many instances have a live heartbeat,
// and which partitions are leased.
func (n *Node) survey(ctx context.Context) (members int, taken map[int]bool, err error) {
	keys, err := n.kv.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return 0, nil, err
	}
	taken = map[int]bool{}
	for _, k := range keys {
		if rest, ok := strings.CutPrefix(k, "p."); ok {
			if p, err := strconv.Atoi(rest); err == nil {
				taken[p] = true
			}
		} else if strings.HasPrefix(k, "m.") {
			members++
		}
	}
	return max(members, 1), taken, nil
}

// preference orders the partitions by rendezvous hash of this instance
// and the partition: each instance prefers a different spread, so free
// partitions are taken with few collisions and the same instance tends to
// get the same partitions back.
func (n *Node) preference() []int {
	ps := make([]int, n.opts.Partitions)
	score := make([]uint64, n.opts.Partitions)
	for p := range ps {
		ps[p] = p
		h := fnv.New64a()
		h.Write([]byte(n.opts.Instance + "/" + strconv.Itoa(p)))
		score[p] = h.Sum64()
	}
	slices.SortFunc(ps, func(a, b int) int {
		switch {
		case score[a] > score[b]:
			return -1
		case score[a] < score[b]:
			return 1
		}
		return 0
	})
	return ps
}

// acquire creates partition p's lease key; it fails when another
// instance holds it.
func (n *Node) acquire(rctx, ctx context.Context, p int, sent int64, deliver func(*Msg)) {
	rev, err := n.kv.Create(rctx, leaseKey(p), []byte(n.opts.Instance))
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			n.log.Warn("partition lease not taken", "partition", p, "err", err)
		}
		return
	}
	cons, err := n.stream.Consumer(rctx, consumerName(p))
	if err != nil {
		n.log.Warn("partition consumer not found; lease given back", "partition", p, "err", err)
		_ = n.kv.Delete(rctx, leaseKey(p), jetstream.LastRevision(rev))
		return
	}
	l := &lease{p: p, rev: rev, done: make(chan struct{}), since: time.Now()}
	l.deadline.Store(sent + n.trust())
	lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l.stop = stop
	n.mu.Lock()
	n.owned[p] = l
	n.mu.Unlock()
	n.m.Takeovers.Inc()
	n.log.Info("partition taken", "partition", p)
	n.wg.Go(func() {
		defer close(l.done)
		if n.hooks.Gained != nil {
			start := time.Now()
			if err := n.hooks.Gained(lctx, p); err != nil {
				n.log.Warn("partition state not loaded; lease given back", "partition", p, "err", err)
				n.giveBack(l)
				return
			}
			n.log.Info("partition state loaded", "partition", p, "took", time.Since(start).Round(time.Millisecond))
		}
		n.replayTries(lctx, l, cons, deliver)
		n.read(lctx, l, cons, deliver)
	})
}

// maxReplayTries are the attempts at a partition's replay before it is read
// without one, and replayPause the wait between them.
const (
	maxReplayTries = 3
	replayPause    = time.Second
)

// replayTries replays l's partition above its stored floor, trying again
// on a failure (what an attempt handed on is stored twice, harmlessly).
// If every attempt fails the partition is read on without a replay and
// this holder writes no floor, so the next holder replays from the same
// one.
func (n *Node) replayTries(ctx context.Context, l *lease, cons jetstream.Consumer, deliver func(*Msg)) {
	for try := 1; ctx.Err() == nil; try++ {
		err := n.replay(ctx, l, cons, deliver)
		if err == nil || ctx.Err() != nil {
			return
		}
		if try == maxReplayTries {
			n.log.Error("partition not replayed above its stored floor; its next holder replays it, and until then what the last holder had not stored waits for its disk",
				"partition", l.p, "err", err)
			return
		}
		n.log.Warn("partition replay failed; trying again", "partition", l.p, "try", try, "err", err)
		sleep(ctx, replayPause)
	}
}

// giveBack drops a lease whose partition was never read and deletes its
// key, so that it is free at once.
func (n *Node) giveBack(l *lease) {
	n.drop(l)
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.ConnectTimeout)
	defer cancel()
	n.mu.Lock()
	rev := l.rev
	n.mu.Unlock()
	_ = n.kv.Delete(ctx, leaseKey(l.p), jetstream.LastRevision(rev))
	if n.hooks.Lost != nil {
		n.hooks.Lost(l.p)
	}
}

// releaseOne gives up the least preferred partition gracefully: reading
// stops, what was handed on is acknowledged (or AckWait passes), then the
// key is deleted so another instance takes it at once.
func (n *Node) releaseOne(ctx context.Context) {
	pref := n.preference()
	n.mu.Lock()
	var l *lease
	for i := len(pref) - 1; i >= 0 && l == nil; i-- {
		if c, ok := n.owned[pref[i]]; ok && !c.releasing {
			l = c
		}
	}
	if l != nil {
		l.releasing = true
	}
	n.mu.Unlock()
	if l == nil {
		return
	}
	n.log.Info("partition handed over to rebalance", "partition", l.p)
	n.wg.Go(func() { n.release(context.WithoutCancel(ctx), l) })
}

// release stops reading l's partition, waits for its messages to be
// acknowledged and deletes its key.
func (n *Node) release(ctx context.Context, l *lease) {
	l.stop()
	<-l.done
	deadline := time.Now().Add(n.opts.AckWait)
	for l.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	n.mu.Lock()
	rev := l.rev
	delete(n.owned, l.p)
	n.mu.Unlock()
	l.deadline.Store(0)
	if n.hooks.Lost != nil {
		// Before the key goes: the next holder must not find this
		// instance still evaluating the partition's sites.
		n.hooks.Lost(l.p)
	}
	dctx, cancel := context.WithTimeout(ctx, n.opts.ConnectTimeout)
	defer cancel()
	if err := n.kv.Delete(dctx, leaseKey(l.p), jetstream.LastRevision(rev)); err != nil {
		n.log.Warn("partition lease not deleted; it expires on its own", "partition", l.p, "err", err)
	}
	n.m.Owned.Set(float64(n.count()))
}

// drop forgets a lost lease at once: its messages are no longer trusted.
func (n *Node) drop(l *lease) {
	l.deadline.Store(0)
	l.stop()
	n.mu.Lock()
	delete(n.owned, l.p)
	n.mu.Unlock()
}

// lose is drop for a lease found taken by another instance: once the
// partition's fetch loop has ended, its state is dropped too.
func (n *Node) lose(l *lease) {
	n.drop(l)
	if n.hooks.Lost == nil {
		return
	}
	n.wg.Go(func() {
		<-l.done
		n.hooks.Lost(l.p)
	})
}

func (n *Node) get(p int) (*lease, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l, ok := n.owned[p]
	return l, ok
}

// kept counts the leases held and not being handed over.
func (n *Node) kept() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := 0
	for _, l := range n.owned {
		if !l.releasing {
			k++
		}
	}
	return k
}

func (n *Node) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.owned)
}

// OwnedSince reports whether this instance holds, and trusts, the lease
// of site's partition, and since when it holds it.
func (n *Node) OwnedSince(site string) (time.Time, bool) {
	l, ok := n.get(PartitionOf(site, n.opts.Partitions))
	if !ok || !l.current(n.now()) {
		return time.Time{}, false
	}
	return l.since, true
}

// Live reports whether instance id has a heartbeat in the lease bucket:
// it renewed it within the lease TTL. An instance that cannot tell (the
// bucket does not answer) reports it live, so nothing it may still do is
// taken from it.
func (n *Node) Live(id string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.ConnectTimeout)
	defer cancel()
	_, err := n.kv.Get(ctx, memberKey(id))
	return err == nil || !errors.Is(err, jetstream.ErrKeyNotFound)
}

// Holder is the instance holding site's partition now, "" when none
// does.
func (n *Node) Holder(ctx context.Context, site string) (string, error) {
	e, err := n.kv.Get(ctx, leaseKey(PartitionOf(site, n.opts.Partitions)))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(e.Value()), nil
}

// Owned lists the partitions this instance holds, in order.
func (n *Node) Owned() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]int, 0, len(n.owned))
	for p := range n.owned {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// stopReading ends every partition's fetch loop and waits for them.
func (n *Node) stopReading() {
	ls := n.leases()
	for _, l := range ls {
		l.stop()
	}
	for _, l := range ls {
		<-l.done
	}
}

// leases lists the leases held now.
func (n *Node) leases() []*lease {
	n.mu.Lock()
	defer n.mu.Unlock()
	ls := make([]*lease, 0, len(n.owned))
	for _, l := range n.owned {
		ls = append(ls, l)
	}
	return ls
}

// Close hands the leases back once what was handed on is acknowledged,
// so the other instances take the partitions now rather than after the
// TTL, removes the heartbeat and closes the connection. Call it after
// Run has returned and ingest has committed its last messages.
func (n *Node) Close() {
	n.mu.Lock()
	ls := make([]*lease, 0, len(n.owned))
	for _, l := range n.owned {
		if !l.releasing {
			l.releasing = true
			ls = append(ls, l)
		}
	}
	n.mu.Unlock()
	ctx := context.Background()
	for _, l := range ls {
		n.release(ctx, l)
	}
	n.wg.Wait()
	dctx, cancel := context.WithTimeout(ctx, n.opts.ConnectTimeout)
	_ = n.kv.Delete(dctx, memberKey(n.opts.Instance))
	cancel()
	_ = n.nc.Flush()
	n.nc.Close()
}
