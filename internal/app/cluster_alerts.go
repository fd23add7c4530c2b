package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/cluster"
	"github.com/riskmon/riskmon/sensors"
)

// How long a cluster problem lasts before its red alert. A NATS node
// restarting, a leader election or a takeover after an instance's death
// (the lease TTL, then one renewal round) all end well within them.
const (
	clusterDownAfter    = 10 * time.Second
	clusterUnownedAfter = 10 * time.Second
)

// clusterWatch raises the red condition alerts about the cluster itself
// from what the node sees of it every second: JetStream not answering
// this instance (a lost quorum, or this instance cut off), and a
// partition whose lease has been free with nobody taking it, so its
// sites are not evaluated. Every live instance looks at the whole lease
// bucket, so any of them raises the second.
type clusterWatch struct {
	check      func(context.Context) cluster.Health
	closed     func() bool
	partitions int
	// sites lists the registered sites of a partition.
	sites    func(p int) []string
	instance string
	c        *alerting.Conditions
	log      *slog.Logger

	downAfter, unownedAfter, every time.Duration

	// downSince is when JetStream stopped answering; zero while it
	// answers. freeSince is when each free partition was first seen free.
	downSince time.Time
	freeSince map[int]time.Time
}

// watchCluster starts the watch on node; it ends once node is closed.
func (s *Service) watchCluster(node *cluster.Node) {
	unowned := clusterUnownedAfter
	if opts, err := s.cfg.ClusterOptions(); err == nil {
		// A long lease TTL makes every takeover slower: allow two.
		unowned = max(unowned, 2*opts.LeaseTTL)
	}
	w := &clusterWatch{check: node.Check, closed: node.Closed, partitions: node.Partitions(), instance: node.Instance(),
		sites: s.partitionSites(node.Partitions()), c: s.conditions, log: s.log.With("component", "cluster"),
		downAfter: clusterDownAfter, unownedAfter: unowned, every: time.Second}
	go w.run()
}

// partitionSites lists the registered sites of a partition, from the
// registry in force.
func (s *Service) partitionSites(partitions int) func(p int) []string {
	return func(p int) []string {
		var out []string
		for _, site := range s.registry.Registry().Sites() {
			if cluster.PartitionOf(site.ID, partitions) == p {
				out = append(out, site.ID)
			}
		}
		return out
	}
}

// run checks every w.every until the node is closed.
func (w *clusterWatch) run() {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for range t.C {
		if w.closed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*w.every)
		h := w.check(ctx)
		cancel()
		// A close during the check is not the cluster failing.
		if w.closed() {
			return
		}
		w.observe(h)
	}
}

// observe raises and clears the alerts for one look at the cluster.
func (w *clusterWatch) observe(h cluster.Health) {
	now := h.At
	if h.JetStream != nil {
		if w.downSince.IsZero() {
			w.downSince = now
			w.log.Warn("JetStream not answering", "err", h.JetStream)
		}
		if d := now.Sub(w.downSince); d >= w.downAfter {
			w.c.Raise(alerting.RuleClusterUnavailable, systemSite, w.instance, sensors.LevelRed, d.Round(time.Second).Seconds(), "s",
				fmt.Sprintf("cluster: JetStream has not answered instance %s for %s (%v): the NATS cluster has lost its quorum or this instance is cut off from it; gateways' readings are not acknowledged, stored or evaluated",
					w.instance, d.Round(time.Second), h.JetStream), now)
		}
		// Who holds what is unknown while JetStream does not answer.
		return
	}
	if !w.downSince.IsZero() {
		w.log.Info("JetStream answers again", "after", now.Sub(w.downSince).Round(time.Second))
		w.downSince = time.Time{}
	}
	w.c.Clear(alerting.RuleClusterUnavailable, systemSite, w.instance, "s", "cluster: JetStream answers this instance again", now)
	w.observeUnowned(h.Unowned, now)
}

// observeUnowned raises the alert of each partition free for
// unownedAfter that holds registered sites, and clears it, also after a
// restart restored it, once the partition has an owner.
func (w *clusterWatch) observeUnowned(unowned []int, now time.Time) {
	if w.freeSince == nil {
		w.freeSince = map[int]time.Time{}
	}
	for p := range w.partitions {
		subject := fmt.Sprintf("partition-%d", p)
		if !slices.Contains(unowned, p) {
			delete(w.freeSince, p)
			w.c.Clear(alerting.RuleClusterUnowned, systemSite, subject, "s", fmt.Sprintf("cluster: partition %d has an owner again", p), now)
			continue
		}
		since, ok := w.freeSince[p]
		if !ok {
			w.freeSince[p] = now
			continue
		}
		d := now.Sub(since)
		sites := w.sites(p)
		if d < w.unownedAfter || len(sites) == 0 {
			continue
		}
		w.c.Raise(alerting.RuleClusterUnowned, systemSite, subject, sensors.LevelRed, d.Round(time.Second).Seconds(), "s",
			fmt.Sprintf("cluster: partition %d has had no owner for %s: its sites (%s) are not evaluated; no live instance takes its lease",
				p, d.Round(time.Second), siteList(sites)), now)
	}
}

// siteList names up to five sites and counts the rest.
func siteList(sites []string) string {
	if len(sites) <= 5 {
		return strings.Join(sites, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(sites[:5], ", "), len(sites)-5)
}
