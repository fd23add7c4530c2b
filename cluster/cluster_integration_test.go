package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/riskmon/riskmon/internal/natsproc"
	"github.com/riskmon/riskmon/internal/testenv"
)

// natsCluster starts n real nats-server nodes for the test. Under
// CI=true a missing binary fails the test; elsewhere it skips it.
func natsCluster(t *testing.T, n int) *natsproc.Cluster {
	t.Helper()
	needNATS(t)
	c, err := natsproc.Start(t.TempDir(), n, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.WaitJetStream(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// needNATS skips the test under -short and fails it without nats-server
// (make deps installs it).
func needNATS(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped under -short: runs nats-server")
	}
	testenv.NeedNATS(t)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// connect retries while the new cluster elects its meta leader.
func connect(t *testing.T, opts Options) *Node {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		n, err := Connect(ctx, opts, nil, quiet())
		cancel()
		if err == nil {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect %s: %v", opts.Instance, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// collector records the topics an instance was handed and acknowledges them.
type collector struct {
	mu   sync.Mutex
	seen map[string]string // topic+payload -> instance
	dups int
}

func (c *collector) deliver(inst string) func(*Msg) {
	return func(m *Msg) {
		if !m.Current() {
			m.Nak()
			return
		}
		c.mu.Lock()
		k := m.Topic() + " " + string(m.Payload())
		if _, ok := c.seen[k]; ok {
			c.dups++
		}
		c.seen[k] = inst
		c.mu.Unlock()
		m.Ack()
	}
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func TestPartitionsMoveWhenAnInstanceStops(t *testing.T) {
	nc := natsCluster(t, 3)
	base := Options{URLs: nc.URLs(), Partitions: 8, Replicas: 3, LeaseTTL: 2 * time.Second, AckWait: 3 * time.Second}
	col := &collector{seen: map[string]string{}}
	nodes := map[string]*Node{}
	stops := map[string]context.CancelFunc{}
	for _, id := range []string{"a", "b"} {
		o := base
		o.Instance = id
		n := connect(t, o)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = n.Run(ctx, col.deliver(id)) }()
		nodes[id] = n
		stops[id] = func() { cancel(); <-done }
		t.Cleanup(stops[id])
	}
	waitFor(t, 15*time.Second, "every partition owned once", func() bool {
		return len(nodes["a"].Owned())+len(nodes["b"].Owned()) == 8 && len(nodes["a"].Owned()) == 4
	})

	// A gateway publishes through the MQTT listener of one node.
	pub := mqttClient(t, nc.Nodes[0].MQTTURL())
	sites := []string{"hz-01", "hz-02", "sz-03", "cq-04", "wh-05", "bj-06"}
	send := func(from, to int) {
		for i := from; i < to; i++ {
			site := sites[i%len(sites)]
			tok := pub.Publish(fmt.Sprintf("riskmon/v1/%s/gw-1/readings", site), 1, false, fmt.Sprint(i))
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("publish %d: %v", i, tok.Error())
			}
		}
	}
	send(0, 300)
	// riskmon's own alert topics are not gateway input.
	if tok := pub.Publish("riskmon/v1/alerts/hz-01/1-red", 1, false, "{}"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish alert: %v", tok.Error())
	}
	waitFor(t, 15*time.Second, "300 messages handed on", func() bool { return col.count() == 300 })
	col.mu.Lock()
	for k, inst := range col.seen {
		site := strings.Split(k, "/")[2]
		p := PartitionOf(site, 8)
		if !contains(nodes[inst].Owned(), p) {
			t.Errorf("%s (partition %d) handed to %s, which owns %v", k, p, inst, nodes[inst].Owned())
		}
	}
	col.mu.Unlock()

	// b stops renewing without handing over, as a killed process does.
	stops["b"]()
	start := time.Now()
	waitFor(t, 10*time.Second, "a owns every partition", func() bool { return len(nodes["a"].Owned()) == 8 })
	t.Logf("takeover after the last renewal: %v", time.Since(start))
	send(300, 600)
	waitFor(t, 15*time.Second, "600 messages handed on", func() bool { return col.count() == 600 })
	time.Sleep(time.Second)
	if n := col.count(); n != 600 {
		t.Errorf("%d messages handed on, want the 600 gateway messages alone", n)
	}
	m := nodes["a"].m
	waitFor(t, 15*time.Second, "a's figures: 8 partitions, nothing pending or lagging", func() bool {
		return testutil.ToFloat64(m.Owned) == 8 && testutil.ToFloat64(m.Pending) == 0 && testutil.ToFloat64(m.SourceLag) == 0 &&
			testutil.ToFloat64(m.Members) == 1
	})
	if testutil.ToFloat64(m.Takeovers) < 8 || testutil.ToFloat64(m.Renewals) == 0 {
		t.Errorf("takeovers %v, renewals %v", testutil.ToFloat64(m.Takeovers), testutil.ToFloat64(m.Renewals))
	}
}

func TestConnectErrors(t *testing.T) {
	nc := natsCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Nothing listens on this port.
	_, err := Connect(ctx, Options{URLs: []string{"nats://127.0.0.1:1"}, Instance: "x", Replicas: 1, ConnectTimeout: time.Second}, nil, quiet())
	if err == nil || !strings.Contains(err.Error(), "no NATS server reachable") {
		t.Errorf("unreachable: %v", err)
	}
	_, err = Connect(ctx, Options{URLs: nc.URLs(), Instance: "x", Replicas: 1, CredsFile: "/nonexistent.creds"}, nil, quiet())
	if err == nil || !strings.Contains(err.Error(), "credentials file") {
		t.Errorf("missing credentials: %v", err)
	}
	n := connect(t, Options{URLs: nc.URLs(), Instance: "x", Replicas: 1, Partitions: 4})
	n.Close()
	_, err = Connect(ctx, Options{URLs: nc.URLs(), Instance: "y", Replicas: 1, Partitions: 8}, nil, quiet())
	var mm *MismatchError
	if !errors.As(err, &mm) || mm.What != "partitions" || !strings.Contains(err.Error(), "created with 4") {
		t.Errorf("other partition count: %v", err)
	}
}

// TestConnectRefusedCredentials: a server that refuses the client's
// credentials is said to, not taken for an unreachable one.
func TestConnectRefusedCredentials(t *testing.T) {
	needNATS(t)
	nc, err := natsproc.StartWith(t.TempDir(), 1, "authorization { user: riskmon, password: right }", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := strings.Replace(nc.URLs()[0], "nats://", "nats://riskmon:wrong@", 1)
	_, err = Connect(ctx, Options{URLs: []string{url}, Instance: "x", Replicas: 1}, nil, quiet())
	if err == nil || !strings.Contains(err.Error(), "NATS refused the credentials") {
		t.Errorf("wrong password: %v", err)
	}
	url = strings.Replace(nc.URLs()[0], "nats://", "nats://riskmon:right@", 1)
	n, err := Connect(ctx, Options{URLs: []string{url}, Instance: "x", Replicas: 1}, nil, quiet())
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	n.Close()
}

// TestMQTT5Refused: the NATS MQTT listener speaks MQTT 3.1.1 only and
// answers an MQTT 5 CONNECT with "unacceptable protocol version", as
// docs/protocol.md tells gateway integrators.
func TestMQTT5Refused(t *testing.T) {
	nc := natsCluster(t, 1)
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(nc.Nodes[0].MQTTURL(), "tcp://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// CONNECT: protocol name MQTT, level 5, clean start, keep-alive 30 s,
	// no properties, client id "gw5".
	connect := []byte{0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 30, 0, 0, 3, 'g', 'w', '5'}
	if _, err := conn.Write(connect); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil {
		t.Fatalf("no CONNACK: %v", err)
	}
	if ack[0] != 0x20 || ack[3] != 0x01 {
		t.Errorf("CONNACK % x, want return code 1 (unacceptable protocol version)", ack)
	}
}

func mqttClient(t *testing.T, url string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("gw-test").SetProtocolVersion(4))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("MQTT connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
