package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Probe checks, without creating or changing anything, that an instance
// with opts could join: a NATS server answers and takes the credentials,
// JetStream is on, and the stream, if it exists, has opts' partition
// count and replicas. It returns the stream's state in words on success
// ("stream RISKMON: 16 partitions, 3 replicas, 1200 messages", or that it
// will be created at the first start).
func Probe(ctx context.Context, opts Options) (string, error) {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return "", err
	}
	nc, err := dial(opts, slog.New(slog.DiscardHandler))
	if err != nil {
		return "", err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(opts.ConnectTimeout))
	if err != nil {
		return "", err
	}
	if err := checkJetStream(ctx, js); err != nil {
		return "", err
	}
	s, err := js.Stream(ctx, opts.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Sprintf("stream %s does not exist yet: the first instance creates it with %d partitions and %d replicas",
			opts.Stream, opts.Partitions, opts.Replicas), nil
	}
	if err != nil {
		return "", fmt.Errorf("stream %s: %w", opts.Stream, err)
	}
	info := s.CachedInfo()
	if err := checkStream(info.Config, opts); err != nil {
		return "", err
	}
	return fmt.Sprintf("stream %s: %d partitions, %d replicas, %d messages", opts.Stream, opts.Partitions, opts.Replicas, info.State.Msgs), nil
}

// Health is one look at the cluster from a running instance, for the
// condition alerts about the cluster itself.
type Health struct {
	At time.Time
	// JetStream is nil when JetStream answered: its meta leader (the
	// account's figures) and the lease bucket's stream leader (the
	// bucket's status). Both need a quorum of their Raft group, so an
	// error here is a cluster that has lost its quorum or that this
	// instance cannot reach.
	JetStream error
	// Unowned are the partitions whose lease key is absent: expired with
	// its holder, or handed back, and not taken yet. Nil when the bucket
	// did not answer.
	Unowned []int
}

// Check looks at the cluster once, within ctx, and sets the metrics
// riskmon_cluster_jetstream_up and riskmon_cluster_unowned_partitions.
func (n *Node) Check(ctx context.Context) Health {
	h := Health{At: time.Now()}
	if err := checkJetStream(ctx, n.js); err != nil {
		h.JetStream = err
	} else if _, err := n.kv.Status(ctx); err != nil {
		h.JetStream = fmt.Errorf("lease bucket %s not answering (its stream has no leader): %w", n.opts.Bucket, err)
	}
	if h.JetStream != nil {
		n.m.JetStreamUp.Set(0)
		return h
	}
	n.m.JetStreamUp.Set(1)
	h.Unowned = []int{}
	for p := range n.opts.Partitions {
		_, err := n.kv.Get(ctx, leaseKey(p))
		switch {
		case err == nil:
		case errors.Is(err, jetstream.ErrKeyNotFound):
			h.Unowned = append(h.Unowned, p)
		default:
			h.JetStream = fmt.Errorf("lease of partition %d not readable: %w", p, err)
			h.Unowned = nil
			n.m.JetStreamUp.Set(0)
			return h
		}
	}
	n.m.Unowned.Set(float64(len(h.Unowned)))
	return h
}

// Closed reports whether the node's connection was closed (Close ran):
// nothing more is to be learned from it.
func (n *Node) Closed() bool { return n.nc.IsClosed() }
