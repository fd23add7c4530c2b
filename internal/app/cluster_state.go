package app

import (
	"context"
	"fmt"
	"time"

	"github.com/riskmon/riskmon/alerting/dispatch"
	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/alerting/store/jskv"
	"github.com/riskmon/riskmon/alerting/warmup"
	"github.com/riskmon/riskmon/cluster"
	"github.com/riskmon/riskmon/console"
)

// joinCluster connects to the NATS cluster of the configuration's
// cluster section and opens the replicated bucket that keeps the alert
// state, before the alert path is built on it. Single-node, it does
// nothing. An unreachable cluster, refused credentials or a stream made
// with another partition count stop the service here, at start.
func (s *Service) joinCluster() error {
	if !s.cfg.ClusterMode() {
		return nil
	}
	opts, err := s.cfg.ClusterOptions()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*opts.ConnectTimeout+5*time.Second)
	defer cancel()
	log := s.log.With("component", "cluster", "instance", opts.Instance)
	node, err := cluster.Connect(ctx, opts, cluster.NewMetrics(s.prom), log)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	owned := func(site string) bool { _, ok := node.OwnedSince(site); return ok }
	shared, err := jskv.Open(ctx, node.JetStream(), jskv.Options{Replicas: node.Replicas(), Timeout: opts.ConnectTimeout, Owns: owned})
	if err != nil {
		node.Close()
		return fmt.Errorf("cluster: %w", err)
	}
	s.node, s.owner, s.shared = node, node, shared
	node.SetHooks(cluster.Hooks{Gained: s.takeOver, Lost: s.handOver})
	return nil
}

// outbox is the notification outbox: in a cluster the alert store's,
// behind the cluster-wide claims that page a change once.
// Called once the alert store is open.
func (s *Service) outbox() dispatch.Outbox {
	if s.shared == nil {
		return s.store
	}
	s.claims = s.shared.Outbox(s.store, s.node.Instance(), s.node.Live)
	return s.claims
}

// alertBoard is the console's read model of alerts and its
// acknowledger: the lifecycle single-node; in a cluster the lifecycle
// with the other instances' alerts (cluster_board.go). Called once the
// lifecycle is built.
func (s *Service) alertBoard() interface {
	console.AlertReader
	console.Acker
	console.Worklist
} {
	if s.shared == nil {
		return s.lifecycle
	}
	if s.board == nil {
		s.board = newClusterBoard(s.lifecycle, s.shared, s.node, s.log.With("component", "cluster"))
		s.board.onShelves = s.reloadShelves
	}
	return s.board
}

// recordStore is where the lifecycle keeps open alerts: the replicated
// bucket in a cluster, the alert store's file single-node.
func (s *Service) recordStore() lifecycle.RecordStore {
	if s.shared != nil {
		return s.shared
	}
	return s.store
}

// storeRetry is how long the lifecycle tries a failed write of an alert's
// state again: in a cluster, long enough to ride out a NATS node's loss
// and the bucket's new leader (a second or two); never for the local
// file.
func (s *Service) storeRetry() time.Duration {
	if s.shared != nil {
		return 10 * time.Second
	}
	return 0
}

// shelfStore and flapStore are where the shelves and the flapping state
// are kept, as recordStore.
func (s *Service) shelfStore() lifecycle.KV {
	if s.shared != nil {
		return s.shared.Shelves()
	}
	return s.store.Shelves()
}

func (s *Service) flapStore() lifecycle.KV {
	if s.shared != nil {
		return s.shared.Flapping()
	}
	return s.store.Flapping()
}

// reloadShelves takes up the shelves as the bucket keeps them, after
// another instance shelved or unshelved.
func (s *Service) reloadShelves() {
	if err := s.shelves.Reload(); err != nil {
		s.log.Warn("shelves made on another instance not taken up", "err", err)
	}
}

// sitesOf lists the registry's sites in partition p.
func (s *Service) sitesOf(p int) []string {
	var out []string
	for _, site := range s.registry.Registry().Sites() {
		if cluster.PartitionOf(site.ID, s.node.Partitions()) == p {
			out = append(out, site.ID)
		}
	}
	return out
}

// takeOver runs when this instance gains partition p, before the
// partition's first message is evaluated. It continues the sites' alert
// state where the last holder left it in the bucket: whatever this
// instance kept of an earlier hold is dropped, then the open alerts with
// their acknowledgements are taken up by the lifecycle and by the engine
// (so the next reading holds, escalates or resolves the same alert
// instead of raising a new one), the flapping state and the shelves are
// read, the windows are warmed from InfluxDB, and the changes the last
// holder recorded but did not confirm handed on go out now. Nothing is
// paged for what was already open.
func (s *Service) takeOver(ctx context.Context, p int) error {
	sites := s.sitesOf(p)
	if len(sites) == 0 {
		return nil
	}
	recs, err := s.shared.RecordsOf(ctx, sites)
	if err != nil {
		return fmt.Errorf("open alerts of partition %d: %w", p, err)
	}
	unsent, err := s.shared.HandoffsOf(ctx, sites)
	if err != nil {
		return fmt.Errorf("hand-off marks of partition %d: %w", p, err)
	}
	s.dropSites(sites)
	if err := s.flapper.Load(s.shared.FlappingOf(sites)); err != nil {
		return err
	}
	if err := s.shelves.Reload(); err != nil {
		return err
	}
	taken := s.lifecycle.Take(recs, unsent)
	adopted := s.engine.Adopt(recs)
	s.conditions.Restore(recs)
	s.hub.Restore(recs)
	st := s.warmSites(ctx, sites)
	redelivered := s.lifecycle.Redeliver()
	// What the last holder claimed and died before sending: nobody else
	// will page it.
	orphans, err := s.claims.Unsent(ctx, sites)
	if err != nil {
		s.log.Warn("notifications claimed by a lost instance not all listed", "partition", p, "err", err)
	}
	for _, ev := range orphans {
		s.dispatcher.Emit(ev)
	}
	s.log.Info("sites taken over", "partition", p, "sites", len(sites), "open_alerts", taken, "adopted", adopted,
		"handed_on_again", redelivered, "unsent_paged", len(orphans), "warmed", st.Warmed, "readings", st.Readings)
	return nil
}

// handOver runs once this instance no longer reads partition p: it
// drops the sites' live state without closing or paging anything, as the
// next holder continues it from the bucket.
func (s *Service) handOver(p int) {
	sites := s.sitesOf(p)
	n := s.dropSites(sites)
	s.log.Info("sites handed over", "partition", p, "sites", len(sites), "open_alerts", n)
}

// dropSites forgets the sites' state in the engine, the condition
// alerts, the lifecycle and the flapper, and reports how many open alerts
// it forgot.
func (s *Service) dropSites(sites []string) int {
	if err := s.engine.Forget(sites); err != nil {
		s.log.Error("rule state of sites not dropped", "sites", sites, "err", err)
	}
	s.monitor.Drop(sites)
	s.conditions.Drop(sites)
	s.flapper.Drop(sites)
	return s.lifecycle.Drop(sites)
}

// warmSites fills the windows of the sites' cold sensors from InfluxDB,
// as the warm-up at start does for a single node. A failure is logged:
// the rules then start cold.
func (s *Service) warmSites(ctx context.Context, sites []string) warmup.Stats {
	of := make(map[string]bool, len(sites))
	for _, site := range sites {
		of[site] = true
	}
	ctx, cancel := context.WithTimeout(ctx, warmup.Timeout)
	defer cancel()
	st, err := warmup.RunFor(ctx, s.influx, s.engine, s.reg.Catalog(), time.Now(), func(site string) bool { return of[site] })
	if err != nil {
		s.log.Warn("warm-up of sites taken over failed; their windowed rules start cold", "sites", sites, "err", err)
	}
	return st
}
