package app

import (
	"context"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/cluster"
	"github.com/riskmon/riskmon/ingest"
	"github.com/riskmon/riskmon/protocol/sparkplug"
)

// buildClusterIngest builds a pipeline that reads this instance's
// partitions of the cluster joinCluster connected to, instead of
// subscribing to an MQTT broker.
func (s *Service) buildClusterIngest() error {
	cfg, log, node := s.cfg, s.log, s.node
	s.watchCluster(node)
	log.Info("joined the cluster", "instance", node.Instance(), "partitions", node.Partitions(), "replicas", node.Replicas())
	// Sparkplug edge nodes' BIRTH definitions live in the cluster, so a
	// site taken over is read by the aliases its edge nodes declared to
	// the previous owner.
	spb := sparkplug.NewTracker()
	spb.UseStore(node.Sparkplug())
	feed := ingest.NewFeed(ingest.FeedOptions{
		Pull: func(ctx context.Context, deliver func(ingest.Message)) error {
			if err := node.Sparkplug().Mirror(ctx, spb); err != nil {
				log.Warn("Sparkplug edge nodes of a site taken over are asked to rebirth before their DATA is read", "err", err)
			}
			return node.Run(ctx, func(m *cluster.Msg) { deliver(m) })
		},
		IsConnected: node.Connected, Close: node.Close, Publish: node.Publish, Sparkplug: spb,
		Stored:  node.Stored,
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

// siteOwner tells whether this instance holds a site's partition, and
// since when: *cluster.Node.
type siteOwner interface {
	OwnedSince(site string) (time.Time, bool)
}

// silenceGrace is how long after taking a site over an instance waits
// before it judges the site's silence: the sensors' last readings it
// knows are from before it owned them (or none), and the stream's backlog
// and the gateways' next reports need a reporting interval or two to
// arrive.
const silenceGrace = 2 * time.Minute

// answersFor reports whether this instance judges site's silence at now:
// single-node, always; in a cluster, once it has held the site's
// partition for silenceGrace. Another instance answers for the rest.
func (s *Service) answersFor(site string, now time.Time) bool {
	if s.owner == nil {
		return true
	}
	since, ok := s.owner.OwnedSince(site)
	return ok && now.Sub(since) >= silenceGrace
}

// inhibit is the engine's Options.Inhibit: the monitor's, and in a
// cluster every sensor of a site this instance does not answer for.
func (s *Service) inhibit(site, sensor, gw, device string) bool {
	return !s.answersFor(site, time.Now()) || s.monitor.Inhibit(site, sensor, gw, device)
}

// ownedQuiet keeps the quiet gateways of the sites this instance answers
// for.
func (s *Service) ownedQuiet(now time.Time, qs []alerting.QuietGateway) []alerting.QuietGateway {
	if s.owner == nil {
		return qs
	}
	out := make([]alerting.QuietGateway, 0, len(qs))
	for _, q := range qs {
		if s.answersFor(q.Site, now) {
			out = append(out, q)
		}
	}
	return out
}
