package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskmon/riskmon/cluster"
)

// TestClusterOwnerDiskLost: with InfluxDB down, two riskmon instances
// acknowledge their partitions' messages from their spools. The owner of
// a site is then killed with SIGKILL and its state directory deleted, as
// a host whose disk never comes back; InfluxDB returns. The surviving
// instance takes the partitions over and replays them from the stream
// above their stored floors, so every published reading lands in
// InfluxDB although the dead instance never runs again.
func TestClusterOwnerDiskLost(t *testing.T) {
	c := newClusterRig(t)
	procs := c.startCluster("rm-a", "rm-b")
	c.waitBalanced(2)

	const total, rate = 30_000, 3_000
	ru := c.publishTo(c.nats.Nodes[0].MQTTURL(), total, rate)
	time.Sleep(3 * time.Second)
	c.influx.Kill()
	time.Sleep(4 * time.Second) // acknowledged from the spools meanwhile

	site := c.reg.Sites()[0].ID
	p := cluster.PartitionOf(site, clusterPartitions)
	victim := c.owner(p)
	if victim == "" {
		t.Fatalf("partition %d of %s has no owner", p, site)
	}
	spooled, _ := procs[victim].metric("riskmon_spool_readings")
	procs[victim].kill()
	state := filepath.Join(c.dir, victim)
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitUntilT(t, takeoverLimit, "the dead instance's partitions taken over", func() bool {
		for q, o := range c.owners() {
			if o == victim || o == "" {
				_ = q
				return false
			}
		}
		return true
	})
	takeover := time.Since(killed)
	c.startInflux()

	st := ru.wait(t)
	landed := c.landed(ru, st.Readings, 2*time.Minute)
	report(t, "cluster owner killed with its disk lost", st, landed,
		fmt.Sprintf("%s killed with %.0f readings in its spool, its state dir deleted; taken over in %v", victim, spooled, takeover.Round(10*time.Millisecond)))
	if spooled == 0 {
		t.Error("the killed instance's spool held nothing: the test did not test a lost disk")
	}
	if landed != st.Readings {
		c.missing(ru)
		t.Errorf("published %d readings, %d landed without the dead instance's disk", st.Readings, landed)
	}
}
