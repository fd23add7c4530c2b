package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskmon/riskmon/cluster"
	"github.com/riskmon/riskmon/internal/influxproc"
	"github.com/riskmon/riskmon/internal/natsproc"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
	"github.com/riskmon/riskmon/storage"
)

// ErrDuplicatePages is a cluster run in which a person would have been
// paged twice for one alarm transition.
var ErrDuplicatePages = errors.New("duplicate pages")

// clusterDemo is one run of the cluster demo: a local InfluxDB, a 3-node
// NATS cluster with JetStream and MQTT listeners, o.Cluster `riskmon
// serve` child processes and a webhook sink that counts pages.
type clusterDemo struct {
	o   Options
	out io.Writer
	log *slog.Logger
	dir string

	influx *influxproc.Server
	nats   *natsproc.Cluster
	// logs are the servers' log files, closed after the servers stop.
	logs  []*os.File
	sink  *pageSink
	insts []*instance
	nc    *nats.Conn
	kv    jetstream.KeyValue

	fleet   simulator.Fleet
	reg     *sensors.Registry
	regFile string
	leak    simulator.GasLeak

	// runStart is the wall clock of the first batch; chaos events are
	// printed as offsets from it. countFrom is where the run's readings
	// begin in device time: runStart, or earlier for a measured load.
	runStart  time.Time
	countFrom time.Time
	chaos     chaosReport
	// cpuStart is the measured load's CPU sample at its first publish.
	cpuStart cpuSample
}

// runCluster is Run with o.Cluster > 0.
func runCluster(ctx context.Context, out io.Writer, log *slog.Logger, o Options) error {
	switch {
	case o.Chaos && o.Duration < 30*time.Second:
		return errors.New("--chaos needs --for of at least 30s: it kills and restarts an instance and a NATS node during the run")
	case o.Chaos && o.Cluster < 2:
		return errors.New("--chaos needs --cluster 2 or more: a killed instance's sites need another instance to move to")
	case o.Cluster > 9:
		return errors.New("--cluster: at most 9 instances on one machine")
	case o.Rate < 0 || (o.Rate > 0 && (o.Duration <= 0 || o.Chaos)):
		return errors.New("--rate needs --for and no --chaos: it measures a steady load")
	}
	c := &clusterDemo{o: o, out: out, log: log}
	if c.o.Binary == "" {
		bin, err := os.Executable()
		if err != nil {
			return fmt.Errorf("the riskmon binary the instances run: %w", err)
		}
		c.o.Binary = bin
	}
	var err error
	if c.dir, err = filepath.Abs(filepath.Join(o.StateDir, "demo-cluster")); err != nil {
		return err
	}
	// A fresh cluster every run: a stream left by an earlier run would
	// hand its messages to this one, and its counts would not add up.
	if err := os.RemoveAll(c.dir); err != nil {
		return err
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	defer c.stopAll()
	if err := c.startServers(ctx); err != nil {
		return err
	}
	if err := c.prepareFleet(); err != nil {
		return err
	}
	accounts, err := newAccounts()
	if err != nil {
		return err
	}
	if err := c.startInstances(ctx, accounts); err != nil {
		return err
	}
	c.printBanner(accounts)
	return c.play(ctx)
}

// startServers starts InfluxDB, the NATS cluster and the webhook sink,
// and connects to the cluster to watch the partition leases.
func (c *clusterDemo) startServers(ctx context.Context) error {
	influxLog, err := os.Create(filepath.Join(c.dir, "influxd.log"))
	if err != nil {
		return err
	}
	natsLog, err := os.Create(filepath.Join(c.dir, "nats.log"))
	if err != nil {
		influxLog.Close()
		return err
	}
	c.logs = []*os.File{influxLog, natsLog}
	fmt.Fprintln(c.out, "starting InfluxDB and a 3-node NATS cluster (files in", c.dir+")")
	c.influx, err = influxproc.Start(ctx, influxproc.Options{Dir: filepath.Join(c.dir, "influxdb"), Database: "riskmon", Log: influxLog})
	if err != nil {
		return err
	}
	if c.nats, err = natsproc.Start(filepath.Join(c.dir, "nats"), 3, natsLog); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.nats.WaitJetStream(wctx); err != nil {
		return err
	}
	if c.sink, err = startSink(); err != nil {
		return err
	}
	c.nc, err = nats.Connect(strings.Join(c.nats.URLs(), ","), nats.Name("riskmon demo"), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond))
	return err
}

// prepareFleet builds the demo fleet (gateways publish to the first
// node's MQTT listener), writes its registry for the instances and
// scripts the leak.
func (c *clusterDemo) prepareFleet() error {
	c.fleet = simulator.DemoFleet(c.o.SitesPerSector)
	if c.o.Rate > 0 {
		c.fleet = simulator.SyntheticFleet(loadSites, loadSensorsPerSite)
	}
	reg, err := c.fleet.Registry(sensors.DefaultCatalog())
	if err != nil {
		return err
	}
	c.reg = reg
	c.regFile = filepath.Join(c.dir, "fleet.yaml")
	if err := reg.WriteYAMLFile(c.regFile); err != nil {
		return err
	}
	c.leak, err = demoLeak(reg, c.o.Duration)
	return err
}

// startInstances writes each instance's configuration, starts them one
// after another and waits until they share the partitions.
func (c *clusterDemo) startInstances(ctx context.Context, accounts []account) error {
	users := make([]map[string]string, 0, len(accounts))
	for _, a := range accounts {
		users = append(users, map[string]string{"name": a.user.Name, "password_hash": a.user.PasswordHash, "role": a.user.Role})
	}
	for i := range c.o.Cluster {
		addr, err := listenAddr(c.o.HTTPAddr, i)
		if err != nil {
			return err
		}
		in, err := newInstance(c.o.Binary, fmt.Sprintf("rm-%d", i+1), instanceConfig{dir: c.dir, regFile: c.regFile,
			influxURL: c.influx.URL, sinkURL: c.sink.url, httpAddr: addr, natsURLs: c.nats.URLs(), users: users})
		if err != nil {
			return err
		}
		c.insts = append(c.insts, in)
		fmt.Fprintf(c.out, "starting riskmon %s\n", in.id)
		if err := in.start(ctx, 90*time.Second); err != nil {
			return err
		}
	}
	// The first instance made the lease bucket.
	js, err := jetstream.New(c.nc)
	if err != nil {
		return err
	}
	kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if c.kv, err = js.KeyValue(kctx, cluster.DefaultBucket); err != nil {
		return fmt.Errorf("lease bucket: %w", err)
	}
	return c.waitSpread(ctx, 60*time.Second)
}

// waitSpread waits until every partition has an owner and every running
// instance holds some.
func (c *clusterDemo) waitSpread(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		per, err := c.perInstance(ctx)
		if err == nil && per[""] == 0 && len(per) == len(c.running()) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the partitions did not spread over the instances within %v: %s", limit, ownersLine(per, err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// listenAddr is the i-th instance's HTTP address: the flag's port plus
// i when it is free, else any free loopback port. The demo must know the
// port to read the instance's metrics, so it never leaves it to the
// child to choose.
func listenAddr(base string, i int) (string, error) {
	host, port, err := net.SplitHostPort(base)
	if err == nil {
		var p int
		if _, err := fmt.Sscan(port, &p); err == nil && p > 0 {
			addr := net.JoinHostPort(host, fmt.Sprint(p+i))
			if freeOr(addr) == addr {
				return addr, nil
			}
		}
	}
	p, err := influxproc.FreePort()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", p), nil
}

// running lists the instances whose process is up.
func (c *clusterDemo) running() []*instance {
	var out []*instance
	for _, in := range c.insts {
		if in.pid() != 0 {
			out = append(out, in)
		}
	}
	return out
}

// owners maps each partition to the instance holding its lease, "" for
// none, as the lease bucket says now. It fails when the bucket does not
// answer (a NATS node restarting under the demo's connection).
func (c *clusterDemo) owners(ctx context.Context) (map[int]string, error) {
	out := make(map[int]string, clusterPartitions)
	for p := range clusterPartitions {
		gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		e, err := c.kv.Get(gctx, fmt.Sprintf("p.%d", p))
		cancel()
		switch {
		case err == nil:
			out[p] = string(e.Value())
		case errors.Is(err, jetstream.ErrKeyNotFound):
			out[p] = ""
		default:
			return nil, fmt.Errorf("lease of partition %d: %w", p, err)
		}
	}
	return out, nil
}

// perInstance counts the partitions of each holder ("" for unowned).
func (c *clusterDemo) perInstance(ctx context.Context) (map[string]int, error) {
	owners, err := c.owners(ctx)
	if err != nil {
		return nil, err
	}
	per := map[string]int{}
	for _, o := range owners {
		per[o]++
	}
	return per, nil
}

// ownersLine writes perInstance's answer as "rm-1:3 rm-2:3 rm-3:2", or
// "?" when the bucket did not answer.
func ownersLine(per map[string]int, err error) string {
	if err != nil {
		return "?"
	}
	ids := make([]string, 0, len(per))
	for id := range per {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	for _, id := range ids {
		name := id
		if name == "" {
			name = "unowned"
		}
		fmt.Fprintf(&b, "%s:%d ", name, per[id])
	}
	return strings.TrimSpace(b.String())
}

// stopAll stops every child by its process id: the instances first
// (SIGTERM, so they hand their partitions over and write what they
// hold), then NATS and InfluxDB.
func (c *clusterDemo) stopAll() {
	c.stopInstances()
	if c.nc != nil {
		c.nc.Close()
	}
	if c.sink != nil {
		c.sink.close()
	}
	if c.nats != nil {
		c.nats.Stop()
	}
	if c.influx != nil {
		_ = c.influx.Stop()
	}
	for _, f := range c.logs {
		f.Close()
	}
}

func (c *clusterDemo) stopInstances() {
	for _, in := range c.insts {
		in.stop()
	}
}

func (c *clusterDemo) printBanner(accounts []account) {
	var consoles, nodes strings.Builder
	for _, in := range c.insts {
		fmt.Fprintf(&consoles, "\n    %s  http://%s/  (pid %d, log %s)", in.id, in.addr, in.pid(), in.logPath)
	}
	for _, nd := range c.nats.Nodes {
		fmt.Fprintf(&nodes, "\n    %s  %s  MQTT %s  (pid %d)", nd.Name, nd.URL(), nd.MQTTURL(), nd.Pid())
	}
	fmt.Fprintf(c.out, `riskmon cluster demo is up
  NATS nodes (JetStream, MQTT listener)%s
  riskmon instances (console, /metrics, /readyz)%s
  console accounts        %s  (new passwords every run, shown only here)
  InfluxDB                %s      database riskmon, measurement reading
  pages (webhook sink)    %s
  fleet                   %d sites, %d sensors, publishing to %s
`, nodes.String(), consoles.String(), accountLine(accounts), c.influx.URL, c.sink.url,
		len(c.reg.Sites()), c.reg.Len(), c.nats.Nodes[0].MQTTURL())
	if c.o.Rate > 0 {
		fmt.Fprintf(c.out, "  measured load           %d readings/s, %d readings in all\n", c.o.Rate, int(float64(c.o.Rate)*c.o.Duration.Seconds()))
		return
	}
	fmt.Fprintf(c.out, "  scripted incident       gas leak at %s/%s from +%s, peak %.0f %%LEL (site's partition %d)\n",
		c.leak.Site, c.leak.Sensor, c.leak.Start, c.leak.Peak, cluster.PartitionOf(c.leak.Site, clusterPartitions))
}

// stored counts the readings InfluxDB holds from the run's start on.
func (c *clusterDemo) stored(ctx context.Context) (int64, error) {
	inf := storage.New(storage.Options{URL: c.influx.URL, Bucket: "riskmon", Timeout: 10 * time.Second})
	defer inf.Close()
	return inf.CountReadings(ctx, c.countFrom.Add(-time.Second), c.runStart.Add(c.o.Duration+time.Hour))
}
