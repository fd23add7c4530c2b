package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Sparkplug edge nodes declare their metrics' aliases in a BIRTH and
// then publish DATA by alias alone. The instance that owns a site keeps
// its edge nodes' BIRTH definitions in a replicated key-value bucket, and
// every instance mirrors the bucket, so the instance that takes a site
// over reads DATA published before the edge node's next BIRTH.

// spbBucket names the bucket of BIRTH definitions.
func (n *Node) spbBucket() string { return n.opts.Stream + "_sparkplug" }

// ensureSparkplugState makes sure the bucket exists.
func (n *Node) ensureSparkplugState(ctx context.Context) error {
	kv, err := n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: n.spbBucket(), History: 1,
		Replicas: n.opts.Replicas, Storage: jetstream.FileStorage,
		Description: "Sparkplug B edge nodes' BIRTH definitions, by edge node"})
	if err != nil {
		return fmt.Errorf("state bucket %s for Sparkplug B: %w", n.spbBucket(), err)
	}
	n.spb = &SparkplugStates{kv: kv, timeout: n.opts.ConnectTimeout, log: n.log, own: map[string]uint64{}}
	return nil
}

// SparkplugStates is the bucket of BIRTH definitions, as a
// sparkplug.Store: Put and Delete write through to the bucket.
type SparkplugStates struct {
	kv      jetstream.KeyValue
	timeout time.Duration
	log     *slog.Logger
	mu      sync.Mutex
	// own is the revision of this instance's last write of each key: the
	// mirror skips it and anything older, so this instance's own state
	// is never rolled back by the echo of an earlier write.
	own map[string]uint64
}

// Sparkplug returns the bucket of BIRTH definitions.
func (n *Node) Sparkplug() *SparkplugStates { return n.spb }

// Put keeps an edge node's definitions.
func (s *SparkplugStates) Put(key string, b []byte) error { return s.write(key, b) }

// Delete drops an edge node's definitions (its NDEATH). It is written as
// an empty value rather than a KV delete, so it has a revision this
// instance can tell its own.
func (s *SparkplugStates) Delete(key string) error { return s.write(key, nil) }

func (s *SparkplugStates) write(key string, b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	// Locked across the write: the watch may deliver the entry before
	// Put returns, and the mirror must know it for this instance's own
	// by then. BIRTHs are rare; the lock costs the data path nothing.
	s.mu.Lock()
	defer s.mu.Unlock()
	rev, err := s.kv.Put(ctx, key, b)
	if err != nil {
		return err
	}
	s.own[key] = rev
	return nil
}

// Mirror is what takes the bucket's contents: a sparkplug.Tracker.
type Mirror interface {
	Apply(b []byte) error
	Forget(key string)
}

// Mirror hands m every edge node's definitions in the bucket,
// returning once the present ones are applied, and then every change
// another instance writes until ctx ends.
func (s *SparkplugStates) Mirror(ctx context.Context, m Mirror) error {
	w, err := s.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch the Sparkplug state bucket: %w", err)
	}
	apply := func(e jetstream.KeyValueEntry) {
		s.mu.Lock()
		mine := e.Revision() <= s.own[e.Key()]
		s.mu.Unlock()
		switch {
		case mine:
		case e.Operation() != jetstream.KeyValuePut || len(e.Value()) == 0:
			m.Forget(e.Key())
		default:
			if err := m.Apply(e.Value()); err != nil {
				s.log.Warn("Sparkplug edge node state skipped; its node is asked to rebirth", "key", e.Key(), "err", err)
			}
		}
	}
	for e := range w.Updates() {
		if e == nil {
			break // the present entries are all in
		}
		apply(e)
	}
	go func() {
		defer func() { _ = w.Stop() }()
		for e := range w.Updates() {
			if e != nil {
				apply(e)
			}
		}
	}()
	return nil
}
