package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/cluster"
	"github.com/riskmon/riskmon/internal/natsproc"
	"github.com/riskmon/riskmon/internal/testenv"
	"github.com/riskmon/riskmon/sensors"
)

// condLog records condition-alert events.
type condLog struct {
	mu  sync.Mutex
	evs []alerting.Event
}

func (l *condLog) Emit(ev alerting.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

// count is how many events of rule and type were emitted.
func (l *condLog) count(rule string, typ alerting.EventType) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ev := range l.evs {
		if ev.Rule == rule && ev.Type == typ {
			n++
		}
	}
	return n
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestClusterWatchObserve: the alerts' timing on a scripted series of
// looks at the cluster.
func TestClusterWatchObserve(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	down := errors.New("no responders")
	type look struct {
		at      time.Duration
		js      error
		unowned []int
	}
	cases := []struct {
		name  string
		looks []look
		// want are the events in order, as "rule subject type".
		want []string
	}{
		{"a short JetStream outage raises nothing", []look{{0, nil, []int{}}, {time.Second, down, nil}, {9 * time.Second, down, nil}, {10 * time.Second, nil, []int{}}}, nil},
		{"a long one is red until JetStream answers", []look{{0, down, nil}, {5 * time.Second, down, nil}, {10 * time.Second, down, nil}, {20 * time.Second, down, nil}, {21 * time.Second, nil, []int{}}},
			[]string{"cluster_jetstream_unavailable rm-1 fired", "cluster_jetstream_unavailable rm-1 resolved"}},
		{"a partition taken over within the limit raises nothing", []look{{0, nil, []int{1}}, {9 * time.Second, nil, []int{1}}, {10 * time.Second, nil, []int{}}}, nil},
		{"a partition free past the limit is red until taken", []look{{0, nil, []int{1, 2}}, {5 * time.Second, nil, []int{1, 2}}, {11 * time.Second, nil, []int{1, 2}}, {12 * time.Second, nil, []int{2}}, {13 * time.Second, nil, []int{}}},
			[]string{"cluster_partition_unowned partition-1 fired", "cluster_partition_unowned partition-1 resolved"}},
		{"a partition taken and freed again counts afresh", []look{{0, nil, []int{1}}, {5 * time.Second, down, nil}, {9 * time.Second, nil, []int{}}, {10 * time.Second, nil, []int{1}}, {19 * time.Second, nil, []int{1}}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			c := alerting.NewConditions(alerting.SinkFunc(func(ev alerting.Event) {
				got = append(got, fmt.Sprintf("%s %s %s", ev.Rule, ev.Sensor, ev.Type))
			}))
			w := &clusterWatch{partitions: 4, instance: "rm-1", c: c, log: discard(), downAfter: 10 * time.Second, unownedAfter: 10 * time.Second,
				// Partition 2 holds no registered site: nothing to raise.
				sites: func(p int) []string {
					if p == 2 {
						return nil
					}
					return []string{fmt.Sprintf("site-%d", p)}
				}}
			for _, l := range tc.looks {
				w.observe(cluster.Health{At: t0.Add(l.at), JetStream: l.js, Unowned: l.unowned})
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("events %v, want %v", got, tc.want)
			}
		})
	}
}

// TestClusterWatchRestoredAlertCleared: an unowned-partition alert an
// instance restored at start is cleared at its first look if the
// partition has an owner.
func TestClusterWatchRestoredAlertCleared(t *testing.T) {
	log := &condLog{}
	c := alerting.NewConditions(log)
	c.Restore([]alerting.Record{{ID: "x", Rule: alerting.RuleClusterUnowned, Site: systemSite, Sensor: "partition-3", Level: sensors.LevelRed}})
	w := &clusterWatch{partitions: 4, instance: "rm-1", c: c, log: discard(), downAfter: time.Second, unownedAfter: time.Second,
		sites: func(int) []string { return []string{"s"} }}
	w.observe(cluster.Health{At: time.Now(), Unowned: []int{}})
	if n := log.count(alerting.RuleClusterUnowned, alerting.EventResolved); n != 1 {
		t.Errorf("%d resolved events, want 1", n)
	}
}

// natsNodes starts n nodes for the test.
func natsNodes(t *testing.T, n int) *natsproc.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped under -short: runs nats-server")
	}
	testenv.NeedNATS(t)
	nc, err := natsproc.Start(filepath.Join(t.TempDir(), "nats"), n, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := nc.WaitJetStream(ctx); err != nil {
		t.Fatal(err)
	}
	return nc
}

// joinCluster connects an instance, retrying while a new cluster elects
// its leaders, and closes it at the test's end.
func joinCluster(t *testing.T, opts cluster.Options) *cluster.Node {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		n, err := cluster.Connect(ctx, opts, nil, discard())
		cancel()
		if err == nil {
			t.Cleanup(n.Close)
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect %s: %v", opts.Instance, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// runNode runs the node's ownership loop until the returned stop.
func runNode(n *cluster.Node) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx, func(m *cluster.Msg) { m.Ack() }) }()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

// startWatch runs a clusterWatch on node into log.
func startWatch(n *cluster.Node, log *condLog, downAfter, unownedAfter time.Duration) {
	w := &clusterWatch{check: n.Check, closed: n.Closed, partitions: n.Partitions(), instance: n.Instance(),
		sites: func(p int) []string { return []string{fmt.Sprintf("site-%d", p)} }, c: alerting.NewConditions(log), log: discard(),
		downAfter: downAfter, unownedAfter: unownedAfter, every: 200 * time.Millisecond}
	go w.run()
}

func waitEvents(t *testing.T, limit time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > limit {
			t.Fatalf("not within %v: %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// TestClusterQuorumLostAlert: two of three NATS nodes killed, the
// survivor has no quorum and JetStream stops answering; the instance
// raises the red alert once that lasts downAfter, and clears it when
// the nodes are back.
func TestClusterQuorumLostAlert(t *testing.T) {
	nc := natsNodes(t, 3)
	n := joinCluster(t, cluster.Options{URLs: nc.URLs(), Instance: "rm-1", Partitions: 4, Replicas: 3, LeaseTTL: 2 * time.Second, AckWait: 3 * time.Second})
	defer runNode(n)()
	log := &condLog{}
	startWatch(n, log, 3*time.Second, time.Hour)
	waitEvents(t, 15*time.Second, "every partition owned", func() bool { return len(n.Owned()) == 4 })

	nc.Nodes[1].Kill()
	nc.Nodes[2].Kill()
	killed := time.Now()
	took := waitEvents(t, 45*time.Second, "the red quorum alert", func() bool {
		return log.count(alerting.RuleClusterUnavailable, alerting.EventFired) == 1
	})
	if took < 3*time.Second {
		t.Errorf("raised %v after the kill, before its 3 s", took)
	}
	t.Logf("quorum lost: red alert %v after two of three nodes were killed", time.Since(killed).Round(100*time.Millisecond))
	for _, nd := range nc.Nodes[1:] {
		if err := nd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	took = waitEvents(t, 90*time.Second, "the quorum alert resolved", func() bool {
		return log.count(alerting.RuleClusterUnavailable, alerting.EventResolved) == 1
	})
	t.Logf("quorum back: resolved %v after the restarts", took.Round(100*time.Millisecond))
}

// TestClusterUnownedPartitionAlert: an instance stops renewing its
// leases (as if it died) and nobody takes them; another instance, which
// only watches, raises one red alert per partition once the leases have
// been free for unownedAfter, and clears each when it takes them.
func TestClusterUnownedPartitionAlert(t *testing.T) {
	nc := natsNodes(t, 1)
	base := cluster.Options{URLs: nc.URLs(), Partitions: 4, Replicas: 1, LeaseTTL: 2 * time.Second, AckWait: 3 * time.Second}
	oa, ob := base, base
	oa.Instance, ob.Instance = "rm-a", "rm-b"
	a := joinCluster(t, oa)
	stopA := runNode(a)
	defer stopA()
	waitEvents(t, 15*time.Second, "rm-a owns every partition", func() bool { return len(a.Owned()) == 4 })

	b := joinCluster(t, ob)
	log := &condLog{}
	startWatch(b, log, time.Hour, 2*time.Second)
	time.Sleep(3 * time.Second)
	if n := log.count(alerting.RuleClusterUnowned, alerting.EventFired); n != 0 {
		t.Fatalf("%d unowned alerts while rm-a holds every partition", n)
	}
	// rm-a stops renewing; its leases expire after the TTL.
	stopA()
	took := waitEvents(t, 20*time.Second, "four red unowned alerts", func() bool {
		return log.count(alerting.RuleClusterUnowned, alerting.EventFired) == 4
	})
	t.Logf("unowned: raised %v after rm-a stopped renewing (TTL 2 s + 2 s)", took.Round(100*time.Millisecond))
	defer runNode(b)()
	took = waitEvents(t, 20*time.Second, "the unowned alerts resolved once rm-b takes the partitions", func() bool {
		return log.count(alerting.RuleClusterUnowned, alerting.EventResolved) == 4
	})
	t.Logf("unowned: resolved %v after rm-b began taking partitions", took.Round(100*time.Millisecond))
}
