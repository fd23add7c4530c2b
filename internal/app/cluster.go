package app

import (
	"context"
	"fmt"
	"time"

	"github.com/riskmon/riskmon/cluster"
	"github.com/riskmon/riskmon/ingest"
)

// buildClusterIngest connects to the NATS cluster of the configuration's
// cluster section and builds a pipeline that reads this instance's
// partitions instead of subscribing to an MQTT broker. An unreachable
// cluster, refused credentials or a stream made with another partition
// count stop the service here, at start, with the reason.
func (s *Service) buildClusterIngest() error {
	cfg, log := s.cfg, s.log
	opts, err := cfg.ClusterOptions()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*opts.ConnectTimeout+5*time.Second)
	defer cancel()
	node, err := cluster.Connect(ctx, opts, cluster.NewMetrics(s.prom), log.With("component", "cluster", "instance", opts.Instance))
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	log.Info("joined the cluster", "instance", opts.Instance, "partitions", opts.Partitions, "replicas", opts.Replicas, "stream", opts.Stream)
	feed := ingest.NewFeed(ingest.FeedOptions{
		Pull: func(ctx context.Context, deliver func(ingest.Message)) error {
			return node.Run(ctx, func(m *cluster.Msg) { deliver(m) })
		},
		IsConnected: node.Connected, Close: node.Close,
		Workers: cfg.MQTT.Workers, QueueSize: cfg.MQTT.QueueSize, Registry: s.registry,
	}, s.reg, cfg.Limits, ingest.NewRejecter(s.metrics, s.deadLetter, log.With("component", "ingest"), time.Minute),
		s.metrics, s.spool, s.Evaluate, s.monitor.GatewayEvent, log.With("component", "ingest"), s.prom)
	s.pipeline = &ingest.Pipeline{
		Source:    feed,
		Spool:     s.spool,
		Forwarder: ingest.NewForwarder(s.spool, s.influx, cfg.Writer, s.metrics, log.With("component", "writer")),
	}
	return nil
}
