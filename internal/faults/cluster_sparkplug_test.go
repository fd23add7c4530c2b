package faults

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/riskmon/riskmon/cluster"
	"github.com/riskmon/riskmon/internal/testenv"
)

// TestClusterSparkplugOwnerKilled: an edge node on Eclipse Tahu's own
// client publishes Sparkplug B, DATA by alias at QoS 0, to a NATS node's
// MQTT listener, while two riskmon instances share the partitions. The
// owner of its group is killed with SIGKILL mid-stream. The instance that
// takes the group over reads the DATA by the aliases the edge declared
// to the dead owner (the BIRTH definitions are kept in the cluster),
// asks the edge to rebirth to confirm them, and every value the edge sent
// is in InfluxDB, at its own time, with its own value, once the killed
// instance is back (its spool holds what it had acknowledged but not yet
// written).
func TestClusterSparkplugOwnerKilled(t *testing.T) {
	edgeDir := testenv.NodeInstall(t, filepath.Join("testdata", "tahu-edge"), "package.json", "package-lock.json", "edge.js")
	c := newClusterRig(t)
	const site = "plant-7"
	metrics := []tahuMetric{
		{"gas-skid-1", "Gas/GT-1", 1, "GT-101"}, {"gas-skid-1", "Gas/GT-2", 2, "GT-102"},
		{"gas-skid-2", "Gas/GT-1", 3, "GT-201"}, {"tank-farm", "Tank1/Temperature", 4, "TT-301"},
	}
	var sensorOf map[string]string
	c.regFile, sensorOf = tahuRegistry(t, c.dir, site, metrics)
	procs := c.startCluster("rm-a", "rm-b")
	c.waitBalanced(2)

	const rounds = 600 // 20 ms apart: 12 s of data
	edge := startTahuEdge(t, edgeDir, c.nats.Nodes[0].MQTTURL(), site, "", metrics, rounds)
	edge.waitUntil("a third of the stream", 60*time.Second, func() bool { return edge.count() >= rounds*len(metrics)/3 })
	p := cluster.PartitionOf(site, clusterPartitions)
	victim := c.owner(p)
	if victim == "" {
		t.Fatalf("partition %d of %s has no owner", p, site)
	}
	_ = procs[victim].cmd.Process.Signal(syscall.SIGKILL)
	_ = procs[victim].cmd.Wait()
	procs[victim].cmd = nil
	killed := time.Now()
	waitUntilT(t, takeoverLimit, "the group's partition taken over", func() bool {
		o := c.owner(p)
		return o != "" && o != victim
	})
	takeover := time.Since(killed)
	sent := edge.waitSent()
	startInstance(t, procs[victim])

	want := map[string]float64{}
	for _, v := range sent {
		want[fmt.Sprintf("%s@%d", sensorOf[v.Device+"/"+v.Name], v.TS)] = v.Value
	}
	influxURL := fmt.Sprintf("http://127.0.0.1:%d", c.influxPort)
	var got map[string]float64
	deadline := time.Now().Add(60 * time.Second)
	for {
		got = storedValues(t, influxURL, site)
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	var missing, wrong []string
	for k, v := range want {
		switch g, ok := got[k]; {
		case !ok:
			missing = append(missing, k)
		case g != v:
			wrong = append(wrong, fmt.Sprintf("%s: stored %v, sent %v", k, g, v))
		}
	}
	msg := fmt.Sprintf("Tahu edge across a SIGKILL of its group's owner %s: sent %d values, stored %d, %d missing, %d wrong; taken over in %v",
		victim, len(want), len(got), len(missing), len(wrong), takeover.Round(10*time.Millisecond))
	t.Log(msg)
	fmt.Println(msg)
	if len(missing) > 0 || len(wrong) > 0 || len(got) != len(want) {
		t.Fatalf("missing e.g. %v, wrong e.g. %v\nedge log:\n%s", head(missing), head(wrong), edge.stderr.String())
	}
	if !strings.Contains(edge.stderr.String(), "rebirth requested") {
		t.Errorf("the new owner did not ask the edge to confirm its aliases by a rebirth:\n%s", edge.stderr.String())
	}
}
