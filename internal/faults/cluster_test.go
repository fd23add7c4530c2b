package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"

	"github.com/riskmon/riskmon/cluster"
	"github.com/riskmon/riskmon/internal/influxproc"
	"github.com/riskmon/riskmon/internal/natsproc"
	"github.com/riskmon/riskmon/internal/testenv"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
)

// The cluster fault tests run a 3-node NATS cluster and several `riskmon
// serve` processes in cluster mode; gateways publish MQTT to a NATS
// node's MQTT listener.

const (
	clusterPartitions = 8
	clusterLeaseTTL   = 2 * time.Second
	// takeoverLimit is the promise of docs/cluster.md: a dead instance's
	// sites have a new owner within it.
	takeoverLimit = 10 * time.Second
)

// clusterRig is a real InfluxDB, a 3-node NATS cluster and a fleet.
type clusterRig struct {
	*rig
	nats *natsproc.Cluster
	kv   jetstream.KeyValue
}

func newClusterRig(t *testing.T) *clusterRig {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	testenv.NeedNATS(t)
	r := &rig{t: t, dir: t.TempDir()}
	r.startInflux()
	t.Cleanup(func() { _ = r.influx.Stop() })
	nc, err := natsproc.Start(filepath.Join(r.dir, "nats"), 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := nc.WaitJetStream(ctx); err != nil {
		t.Fatal(err)
	}
	r.fleet = simulator.SyntheticFleet(6, 50)
	if r.reg, err = r.fleet.Registry(sensors.DefaultCatalog()); err != nil {
		t.Fatal(err)
	}
	r.regFile = filepath.Join(r.dir, "fleet.yaml")
	f, err := os.Create(r.regFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.reg.WriteYAML(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return &clusterRig{rig: r, nats: nc}
}

// instance writes a cluster-mode configuration for instance id.
func (c *clusterRig) instance(id string) *riskmonProc { return c.instanceWith(id, nil) }

// instanceWith is instance with the configuration changed by edit first.
func (c *clusterRig) instanceWith(id string, edit func(map[string]any)) *riskmonProc {
	t := c.t
	t.Helper()
	state := filepath.Join(c.dir, id)
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	port, err := influxproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	conf := map[string]any{
		"log_level": "warn", "state_dir": state, "registry": c.regFile,
		"http":     map[string]any{"listen": addr},
		"influxdb": map[string]any{"url": fmt.Sprintf("http://127.0.0.1:%d", c.influxPort), "bucket": "riskmon"},
		"cluster": map[string]any{"urls": c.nats.URLs(), "instance_id": id, "partitions": clusterPartitions,
			"replicas": 3, "lease_ttl": clusterLeaseTTL.String(), "ack_wait": "3s"},
		"alerting": map[string]any{"notify": map[string]any{"log": false, "mqtt": false}},
	}
	if edit != nil {
		edit(conf)
	}
	b, err := yaml.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(state, "riskmon.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	p := &riskmonProc{t: t, conf: path, addr: addr}
	t.Cleanup(func() { p.stop() })
	return p
}

// startInstance runs riskmon serve, retrying while a new NATS cluster
// still elects its leaders (serve then exits at start with the reason).
func startInstance(t *testing.T, p *riskmonProc) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		p.cmd = exec.Command(riskmonBin, "serve", "--config", p.conf)
		p.cmd.Stderr = os.Stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func(cmd *exec.Cmd) { _, _ = cmd.Process.Wait(); close(exited) }(p.cmd)
		for {
			if v, ok := p.metric("riskmon_mqtt_connected"); ok && v == 1 {
				return
			}
			select {
			case <-exited:
			case <-time.After(50 * time.Millisecond):
				if time.Now().After(deadline) {
					t.Fatal("riskmon serve did not join the cluster")
				}
				continue
			}
			break
		}
		p.cmd = nil
		if time.Now().After(deadline) {
			t.Fatal("riskmon serve kept exiting at start")
		}
		time.Sleep(time.Second)
	}
}

// leases opens the lease bucket, to see from outside who owns what.
func (c *clusterRig) leases() jetstream.KeyValue {
	t := c.t
	t.Helper()
	if c.kv != nil {
		return c.kv
	}
	nc, err := nats.Connect(c.nats.Nodes[1].URL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c.kv, err = js.KeyValue(ctx, cluster.DefaultBucket); err != nil {
		t.Fatal(err)
	}
	return c.kv
}

// owner is who holds partition p's lease now, "" when nobody does.
func (c *clusterRig) owner(p int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, err := c.leases().Get(ctx, fmt.Sprintf("p.%d", p))
	if err != nil {
		return ""
	}
	return string(e.Value())
}

// owners maps each partition to its holder.
func (c *clusterRig) owners() map[int]string {
	out := map[int]string{}
	for p := range clusterPartitions {
		out[p] = c.owner(p)
	}
	return out
}

// waitBalanced waits until every partition has an owner and each of
// the n instances holds its fair share or one less.
func (c *clusterRig) waitBalanced(n int) {
	c.t.Helper()
	floor := clusterPartitions / n
	waitUntilT(c.t, 30*time.Second, fmt.Sprintf("the partitions spread over %d instances", n), func() bool {
		per := map[string]int{}
		for _, o := range c.owners() {
			if o == "" {
				return false
			}
			per[o]++
		}
		if len(per) != n {
			return false
		}
		for _, k := range per {
			if k < floor {
				return false
			}
		}
		return true
	})
}

// publishTo plays total readings of the fleet at about rate a second
// through broker (a NATS node's MQTT listener).
func (c *clusterRig) publishTo(broker string, total, rate int) *run {
	speed := float64(rate) / float64(c.reg.Len())
	span := time.Duration(float64(total)/float64(c.reg.Len())) * time.Second
	ru := &run{start: time.Now().Add(-2 * span).Add(-time.Minute).Truncate(time.Second), done: make(chan struct{})}
	pub, err := simulator.NewPublisher(simulator.Options{Broker: broker, Fleet: c.fleet, Interval: time.Second,
		Speed: speed, MaxReadings: total, Seed: 5, Start: ru.start, PublishTimeout: 60 * time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	go func() {
		defer close(ru.done)
		ru.stats, ru.err = pub.Run(context.Background())
	}()
	return ru
}

// TestClusterOwnerKilled: three riskmon instances share the partitions
// of a 3-node NATS cluster under a steady load. The owner of a site is
// killed with SIGKILL; its partitions must have a new owner within
// takeoverLimit, and once it is back (its spool holds what it had
// acknowledged but not yet written) every published reading is in
// InfluxDB.
func TestClusterOwnerKilled(t *testing.T) {
	c := newClusterRig(t)
	ids := []string{"rm-a", "rm-b", "rm-c"}
	procs := map[string]*riskmonProc{}
	for _, id := range ids {
		procs[id] = c.instance(id)
		startInstance(t, procs[id])
	}
	c.waitBalanced(len(ids))
	t.Logf("owners at start: %v", c.owners())

	const total, rate = 60_000, 3_000
	ru := c.publishTo(c.nats.Nodes[0].MQTTURL(), total, rate)
	time.Sleep(5 * time.Second)

	site := c.reg.Sites()[0].ID
	p := cluster.PartitionOf(site, clusterPartitions)
	victim := c.owner(p)
	if victim == "" {
		t.Fatalf("partition %d of site %s has no owner", p, site)
	}
	var theirs []int
	for q, o := range c.owners() {
		if o == victim {
			theirs = append(theirs, q)
		}
	}
	_ = procs[victim].cmd.Process.Signal(syscall.SIGKILL)
	_ = procs[victim].cmd.Wait()
	procs[victim].cmd = nil
	killed := time.Now()
	waitUntilT(t, takeoverLimit, fmt.Sprintf("partitions %v of %s taken over", theirs, victim), func() bool {
		for _, q := range theirs {
			if o := c.owner(q); o == "" || o == victim {
				return false
			}
		}
		return true
	})
	takeover := time.Since(killed)
	t.Logf("site %s (partition %d) was on %s with %v; taken over in %v: %v", site, p, victim, theirs, takeover.Round(10*time.Millisecond), c.owners())

	st := ru.wait(t)
	// The killed instance comes back on its state dir: its spool
	// replays what it had acknowledged to JetStream but not yet written.
	startInstance(t, procs[victim])
	landed := c.landed(ru, st.Readings, 2*time.Minute)
	report(t, "cluster owner killed", st, landed, fmt.Sprintf("takeover %v", takeover.Round(10*time.Millisecond)))
	if landed != st.Readings {
		c.missing(ru)
		t.Errorf("published %d readings, %d landed", st.Readings, landed)
	}
}

func waitUntilT(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startCluster starts the instances ids and waits until they share the
// partitions.
func (c *clusterRig) startCluster(ids ...string) map[string]*riskmonProc {
	procs := map[string]*riskmonProc{}
	for _, id := range ids {
		procs[id] = c.instance(id)
		startInstance(c.t, procs[id])
	}
	c.waitBalanced(len(ids))
	return procs
}

// partitionsOf lists the partitions id holds.
func (c *clusterRig) partitionsOf(id string) []int {
	var out []int
	for p, o := range c.owners() {
		if o == id {
			out = append(out, p)
		}
	}
	return out
}

// movedOff waits until none of ps is held by id or unowned, and says
// how long that took from since.
func (c *clusterRig) movedOff(id string, ps []int, since time.Time) time.Duration {
	c.t.Helper()
	waitUntilT(c.t, takeoverLimit, fmt.Sprintf("partitions %v of %s taken over", ps, id), func() bool {
		for _, q := range ps {
			if o := c.owner(q); o == "" || o == id {
				return false
			}
		}
		return true
	})
	return time.Since(since)
}

// TestClusterInstanceFrozen: an instance frozen with SIGSTOP past its
// lease loses its partitions to the others; let go with SIGCONT it finds
// its leases taken, stands down from them without evaluating or
// acknowledging what it still held, and the partitions spread again.
// Every reading lands, with no restart.
func TestClusterInstanceFrozen(t *testing.T) {
	c := newClusterRig(t)
	procs := c.startCluster("rm-a", "rm-b", "rm-c")
	const total, rate = 45_000, 3_000
	ru := c.publishTo(c.nats.Nodes[1].MQTTURL(), total, rate)
	time.Sleep(4 * time.Second)

	victim := c.owner(cluster.PartitionOf(c.reg.Sites()[1].ID, clusterPartitions))
	theirs := c.partitionsOf(victim)
	if err := procs[victim].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	took := c.movedOff(victim, theirs, frozen)
	// Well past the lease, so whatever it fetched is due again.
	time.Sleep(3 * clusterLeaseTTL)
	if err := procs[victim].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped := time.Since(frozen)
	waitUntilT(t, 10*time.Second, victim+" notices its leases are gone", func() bool {
		v, _ := procs[victim].metric("riskmon_cluster_leases_lost_total")
		return v >= float64(len(theirs))
	})
	c.waitBalanced(3)
	stale, _ := procs[victim].metric("riskmon_ingest_stale_messages_total")

	st := ru.wait(t)
	landed := c.landed(ru, st.Readings, 2*time.Minute)
	report(t, "cluster instance frozen", st, landed, fmt.Sprintf("%s frozen %v with %v; taken over in %v; %v stale messages handed back",
		victim, stopped.Round(100*time.Millisecond), theirs, took.Round(10*time.Millisecond), stale))
	if landed != st.Readings {
		c.missing(ru)
		t.Errorf("published %d readings, %d landed", st.Readings, landed)
	}
}

// TestClusterGracefulHandover: an instance stopped with SIGTERM hands
// its partitions over before it exits, once what it read is safe, so
// the others take them at once and nothing waits for its restart.
func TestClusterGracefulHandover(t *testing.T) {
	c := newClusterRig(t)
	procs := c.startCluster("rm-a", "rm-b", "rm-c")
	const total, rate = 30_000, 3_000
	ru := c.publishTo(c.nats.Nodes[2].MQTTURL(), total, rate)
	time.Sleep(3 * time.Second)

	leaving := c.owner(cluster.PartitionOf(c.reg.Sites()[2].ID, clusterPartitions))
	theirs := c.partitionsOf(leaving)
	asked := time.Now()
	procs[leaving].stop()
	exited := time.Since(asked)
	took := c.movedOff(leaving, theirs, asked)
	c.waitBalanced(2)

	st := ru.wait(t)
	landed := c.landed(ru, st.Readings, 2*time.Minute)
	report(t, "cluster graceful handover", st, landed, fmt.Sprintf("%s left in %v; its partitions %v owned again %v after SIGTERM",
		leaving, exited.Round(10*time.Millisecond), theirs, took.Round(10*time.Millisecond)))
	if landed != st.Readings {
		c.missing(ru)
		t.Errorf("published %d readings, %d landed without a restart", st.Readings, landed)
	}
}

// TestClusterScaleOutAndIn: under load the cluster grows from one
// instance to three, the partitions spread, and shrinks back to one with
// SIGTERM; every reading lands with no restart.
func TestClusterScaleOutAndIn(t *testing.T) {
	c := newClusterRig(t)
	procs := c.startCluster("rm-a")
	const total, rate = 60_000, 3_000
	ru := c.publishTo(c.nats.Nodes[0].MQTTURL(), total, rate)
	time.Sleep(3 * time.Second)

	out := time.Now()
	for _, id := range []string{"rm-b", "rm-c"} {
		procs[id] = c.instance(id)
		startInstance(t, procs[id])
	}
	c.waitBalanced(3)
	spread := time.Since(out)
	t.Logf("spread over three in %v: %v", spread.Round(10*time.Millisecond), c.owners())

	in := time.Now()
	for _, id := range []string{"rm-b", "rm-c"} {
		procs[id].stop()
	}
	c.waitBalanced(1)
	back := time.Since(in)

	st := ru.wait(t)
	landed := c.landed(ru, st.Readings, 2*time.Minute)
	report(t, "cluster scale 1-3-1", st, landed, fmt.Sprintf("1 to 3 instances in %v (starts included), 3 to 1 in %v",
		spread.Round(10*time.Millisecond), back.Round(10*time.Millisecond)))
	if landed != st.Readings {
		c.missing(ru)
		t.Errorf("published %d readings, %d landed", st.Readings, landed)
	}
}

// streamLeader is the NATS node that leads the stream; with avoid set it
// asks the leader to step down until another node leads.
func (c *clusterRig) streamLeader(avoid string) *natsproc.Node {
	t := c.t
	t.Helper()
	nc, err := nats.Connect(c.nats.Nodes[1].URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 20 {
		s, err := js.Stream(ctx, cluster.DefaultStream)
		if err != nil {
			t.Fatal(err)
		}
		leader := s.CachedInfo().Cluster.Leader
		if leader != avoid {
			for _, nd := range c.nats.Nodes {
				if nd.Name == leader {
					return nd
				}
			}
		}
		if _, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+cluster.DefaultStream, nil, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
	}
	t.Fatal("the stream's leader stayed on " + avoid)
	return nil
}

// waitStreamCurrent waits until the stream has a leader and every
// replica is online and current.
func (c *clusterRig) waitStreamCurrent() {
	t := c.t
	t.Helper()
	nc, err := nats.Connect(c.nats.Nodes[1].URL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitUntilT(t, time.Minute, "the stream's replicas current", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, cluster.DefaultStream)
		if err != nil {
			return false
		}
		cl := s.CachedInfo().Cluster
		if cl == nil || cl.Leader == "" || len(cl.Replicas) != 2 {
			return false
		}
		for _, r := range cl.Replicas {
			if !r.Current || r.Offline {
				return false
			}
		}
		return true
	})
}

// streamState logs how many messages the stream holds, and each
// partition consumer's state: where a loss happened.
func (c *clusterRig) streamState() {
	t := c.t
	nc, err := nats.Connect(c.nats.Nodes[1].URL())
	if err != nil {
		t.Log(err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, cluster.DefaultStream)
	if err != nil {
		t.Log(err)
		return
	}
	info := s.CachedInfo()
	t.Logf("stream: %d messages, leader %s", info.State.Msgs, info.Cluster.Leader)
	for p := range clusterPartitions {
		cons, err := s.Consumer(ctx, fmt.Sprintf("riskmon_p%d", p))
		if err != nil {
			t.Logf("partition %d: %v", p, err)
			continue
		}
		ci := cons.CachedInfo()
		t.Logf("partition %d: pending %d, ack pending %d, redelivered %d, delivered to %d; owner %s",
			p, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.Delivered.Stream, c.owner(p))
	}
}

// TestClusterNATSNodeKilled: SIGKILL of the NATS node that leads the
// stream (not the one the gateways publish to) mid-load, and its restart
// 5 s later. What the gateways had acknowledged is in $MQTT_msgs, which
// keeps it until the stream has it, so every reading lands.
func TestClusterNATSNodeKilled(t *testing.T) {
	c := newClusterRig(t)
	c.startCluster("rm-a", "rm-b", "rm-c")
	const total, rate = 45_000, 3_000
	ru := c.publishTo(c.nats.Nodes[0].MQTTURL(), total, rate)
	time.Sleep(4 * time.Second)
	victim := c.streamLeader(c.nats.Nodes[0].Name)
	victim.Kill()
	time.Sleep(5 * time.Second)
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	st := ru.wait(t)
	landed := c.landed(ru, st.Readings, 2*time.Minute)
	report(t, "cluster NATS node killed", st, landed, fmt.Sprintf("stream leader %s killed for 5 s", victim.Name))
	if landed != st.Readings {
		c.streamState()
		c.missing(ru)
		t.Errorf("published %d readings, %d landed", st.Readings, landed)
	}
}

// TestClusterNATSRollingRestart: the three NATS nodes are restarted one
// after another under load (SIGTERM, start, JetStream back), the
// gateways' node among them, and every reading lands.
func TestClusterNATSRollingRestart(t *testing.T) {
	c := newClusterRig(t)
	c.startCluster("rm-a", "rm-b", "rm-c")
	const total, rate = 60_000, 3_000
	ru := c.publishTo(c.nats.Nodes[0].MQTTURL(), total, rate)
	time.Sleep(3 * time.Second)
	start := time.Now()
	for _, nd := range c.nats.Nodes {
		nd.Stop()
		if err := nd.Start(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := c.nats.WaitJetStream(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		// As an operator would: the next node only once the stream has
		// every replica current again.
		c.waitStreamCurrent()
		t.Logf("%s restarted and current at %v", nd.Name, time.Since(start).Round(100*time.Millisecond))
	}
	st := ru.wait(t)
	landed := c.landed(ru, st.Readings, 2*time.Minute)
	report(t, "cluster NATS rolling restart", st, landed, fmt.Sprintf("3 nodes restarted one by one in %v", time.Since(start).Round(100*time.Millisecond)))
	if landed != st.Readings {
		c.streamState()
		c.missing(ru)
		t.Errorf("published %d readings, %d landed", st.Readings, landed)
	}
}

// TestClusterGatewayNodeKilled: the gateways list every NATS node and
// publish to the first; that node is killed with SIGKILL mid-load and
// stays down. The gateways reconnect to the next node and send again
// what was not acknowledged, the instances connected to it move too,
// and every reading lands.
func TestClusterGatewayNodeKilled(t *testing.T) {
	c := newClusterRig(t)
	c.startCluster("rm-a", "rm-b")
	const total, rate = 45_000, 3_000
	var urls []string
	for _, nd := range c.nats.Nodes {
		urls = append(urls, nd.MQTTURL())
	}
	ru := c.publishTo(strings.Join(urls, ","), total, rate)
	time.Sleep(4 * time.Second)
	c.nats.Nodes[0].Kill()
	st := ru.wait(t)
	landed := c.landed(ru, st.Readings, 2*time.Minute)
	report(t, "cluster gateways' NATS node killed", st, landed, fmt.Sprintf("%s killed 4 s in and left down", c.nats.Nodes[0].Name))
	if landed != st.Readings {
		c.streamState()
		c.missing(ru)
		t.Errorf("published %d readings, %d landed", st.Readings, landed)
	}
}
