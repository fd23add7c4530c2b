// Package natsproc runs nats-server processes on loopback for tests and
// the cluster demo: one node or a cluster of several, each with
// JetStream and an MQTT listener, started and stopped by process id.
package natsproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskmon/riskmon/internal/influxproc"
)

// FindBinary looks for nats-server: $RISKMON_NATS_SERVER, then the
// project's .state/bin (where `make deps` installs it), then PATH.
func FindBinary() (string, error) {
	return influxproc.FindTool("nats-server", "RISKMON_NATS_SERVER",
		"run `make deps` (installs nats-server v2.15.3 into .state/bin) or set RISKMON_NATS_SERVER")
}

// Node is one nats-server of a cluster, with its fixed ports and folder
// so that it restarts as the same node.
type Node struct {
	Name                  string
	Port, MQTTPort, Route int
	Dir                   string
	bin                   string
	conf                  string
	extra                 string
	log                   io.Writer
	cmd                   *exec.Cmd
	exited                chan error
}

// Cluster is a set of nodes routed to each other.
type Cluster struct {
	Nodes []*Node
}

// nodeConf is one node's configuration: client, MQTT and route
// listeners on loopback, JetStream in its folder.
//
// In a cluster the MQTT listener's own streams (sessions, retained
// messages, QoS 2, outbound) are made with stream_replicas 3: left to
// nats-server, they get as many replicas as the nodes it has seen when
// the first MQTT client connects, which can be 2, and a stream of 2 has
// no quorum once one of its nodes is down, so no gateway could connect.
const nodeConf = `server_name: %s
listen: 127.0.0.1:%d
jetstream { store_dir: %q }
mqtt { listen: 127.0.0.1:%d%s }
`

const clusterConf = `cluster {
  name: riskmon
  listen: 127.0.0.1:%d
  routes: [%s]
}
`

// Start runs n nodes (1, or 3 for a cluster with a quorum) in folders
// under dir and waits until each listens for clients and MQTT.
func Start(dir string, n int, log io.Writer) (*Cluster, error) { return StartWith(dir, n, "", log) }

// StartWith is Start with extra configuration for every node, such as an
// authorization block.
func StartWith(dir string, n int, extra string, log io.Writer) (*Cluster, error) {
	bin, err := FindBinary()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = io.Discard
	}
	// A free port found here may be taken by another process before the
	// node binds it (parallel test packages do the same); such a node
	// exits at once, so the cluster is tried again on fresh ports.
	for attempt := 1; ; attempt++ {
		c, err := start(dir, n, bin, extra, log)
		if err == nil || !errors.Is(err, errExitedAtStart) || attempt == 3 {
			return c, err
		}
		fmt.Fprintf(log, "natsproc: %v; starting again on fresh ports\n", err)
		for i := range n {
			// A fresh start: nothing of the failed try's JetStream state.
			if err := os.RemoveAll(filepath.Join(dir, fmt.Sprintf("n%d", i+1))); err != nil {
				return nil, err
			}
		}
	}
}

// errExitedAtStart marks a node that died before it listened, most often
// because one of its ports was taken.
var errExitedAtStart = errors.New("exited at start")

func start(dir string, n int, bin, extra string, log io.Writer) (*Cluster, error) {
	c := &Cluster{}
	for i := range n {
		nd := &Node{Name: fmt.Sprintf("n%d", i+1), Dir: filepath.Join(dir, fmt.Sprintf("n%d", i+1)), bin: bin, log: log, extra: extra}
		for _, p := range []*int{&nd.Port, &nd.MQTTPort, &nd.Route} {
			var err error
			if *p, err = influxproc.FreePort(); err != nil {
				return nil, err
			}
		}
		c.Nodes = append(c.Nodes, nd)
	}
	for _, nd := range c.Nodes {
		if err := nd.writeConf(c.Nodes); err != nil {
			return nil, err
		}
	}
	for _, nd := range c.Nodes {
		if err := nd.Start(); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

func (nd *Node) writeConf(all []*Node) error {
	if err := os.MkdirAll(nd.Dir, 0o755); err != nil {
		return err
	}
	replicas := ""
	if len(all) > 1 {
		replicas = ", stream_replicas: 3"
	}
	conf := fmt.Sprintf(nodeConf, nd.Name, nd.Port, filepath.Join(nd.Dir, "js"), nd.MQTTPort, replicas) + nd.extra + "\n"
	if len(all) > 1 {
		var routes []string
		for _, o := range all {
			if o != nd {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", o.Route))
			}
		}
		conf += fmt.Sprintf(clusterConf, nd.Route, strings.Join(routes, ", "))
	}
	nd.conf = filepath.Join(nd.Dir, "nats.conf")
	return os.WriteFile(nd.conf, []byte(conf), 0o644)
}

// Start runs the node (again, after Kill or Stop) and waits until its
// client and MQTT ports accept connections.
func (nd *Node) Start() error {
	nd.cmd = exec.Command(nd.bin, "-c", nd.conf)
	nd.cmd.Stdout, nd.cmd.Stderr = nd.log, nd.log
	// Its own process group, as influxd's: a Ctrl-C in the terminal
	// reaches the demo, which stops the nodes after the riskmon instances.
	nd.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := nd.cmd.Start(); err != nil {
		return fmt.Errorf("start nats-server %s: %w", nd.Name, err)
	}
	nd.exited = make(chan error, 1)
	cmd, exited := nd.cmd, nd.exited
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for _, port := range []int{nd.Port, nd.MQTTPort} {
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		for {
			conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case err := <-exited:
				// Reaped: a later Stop must not wait for it again.
				nd.cmd = nil
				return fmt.Errorf("nats-server %s %w: %v", nd.Name, errExitedAtStart, err)
			default:
			}
			if time.Now().After(deadline) {
				nd.Kill()
				return fmt.Errorf("nats-server %s not listening on %s: %w", nd.Name, addr, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// Pid is the node's process id, 0 when it is not running.
func (nd *Node) Pid() int {
	if nd.cmd == nil {
		return 0
	}
	return nd.cmd.Process.Pid
}

// Kill ends the node with SIGKILL, as a crash or a power cut does.
func (nd *Node) Kill() { nd.end(syscall.SIGKILL) }

// Stop ends the node with SIGTERM (lame duck off), killing it after 10 s.
func (nd *Node) Stop() { nd.end(syscall.SIGTERM) }

func (nd *Node) end(sig syscall.Signal) {
	if nd.cmd == nil {
		return
	}
	_ = nd.cmd.Process.Signal(sig)
	select {
	case <-nd.exited:
	case <-time.After(10 * time.Second):
		_ = nd.cmd.Process.Kill()
		<-nd.exited
	}
	nd.cmd = nil
}

// URL is the node's client URL.
func (nd *Node) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", nd.Port) }

// MQTTURL is the node's MQTT listener, as gateways reach it.
func (nd *Node) MQTTURL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", nd.MQTTPort) }

// URLs are every node's client URL.
func (c *Cluster) URLs() []string {
	out := make([]string, 0, len(c.Nodes))
	for _, nd := range c.Nodes {
		out = append(out, nd.URL())
	}
	return out
}

// WaitJetStream waits until JetStream answers on every node: a new
// cluster elects its meta leader first.
func (c *Cluster) WaitJetStream(ctx context.Context) error {
	for _, nd := range c.Nodes {
		if err := nd.waitJetStream(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (nd *Node) waitJetStream(ctx context.Context) error {
	nc, err := nats.Connect(nd.URL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	for {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := js.AccountInfo(actx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("JetStream on %s: %w", nd.Name, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop stops every node.
func (c *Cluster) Stop() {
	for _, nd := range c.Nodes {
		nd.Stop()
	}
}
