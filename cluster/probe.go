package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

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
