package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// TestSparkplugReachesItsSitePartition: Sparkplug B messages published
// at QoS 0 (as edge nodes publish DATA) and at QoS 1 reach the stream
// once each, under their group's partition, which is the partition of
// the site's riskmon/v1 messages; host STATE and commands stay out; and
// Publish reaches an MQTT subscriber, as a rebirth request must.
func TestSparkplugReachesItsSitePartition(t *testing.T) {
	nc := natsCluster(t, 1)
	const parts = 8
	n := connect(t, Options{URLs: nc.URLs(), Instance: "a", Partitions: parts, Replicas: 1,
		LeaseTTL: 2 * time.Second, AckWait: 3 * time.Second})
	var mu sync.Mutex
	got := map[string]int{} // topic -> partition
	count := map[string]int{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = n.Run(ctx, func(m *Msg) {
			mu.Lock()
			got[m.Topic()] = m.l.p
			count[m.Topic()]++
			mu.Unlock()
			m.Ack()
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 15*time.Second, "every partition owned", func() bool { return len(n.Owned()) == parts })

	edge := mqttClient(t, nc.Nodes[0].MQTTURL())
	cmds := make(chan string, 8)
	if tok := edge.Subscribe("spBv1.0/hz-01/NCMD/edge-1", 0, func(_ mqtt.Client, m mqtt.Message) { cmds <- string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	for _, tc := range []struct {
		topic string
		qos   byte
	}{
		{"spBv1.0/hz-01/NBIRTH/edge-1", 0},
		{"spBv1.0/hz-01/NDATA/edge-1", 0},
		{"spBv1.0/hz-01/DDATA/edge-1/pump.2", 0},
		{"spBv1.0/hz-01/NDEATH/edge-1", 1},
		{"spBv1.0/sz-03/NDATA/edge-9", 0},
		{"spBv1.0/STATE/riskmon", 1},
		{"spBv1.0/hz-01/NCMD/edge-1", 0},
		{"riskmon/v1/hz-01/gw-1/readings", 1},
	} {
		if tok := edge.Publish(tc.topic, tc.qos, false, "x"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", tc.topic, tok.Error())
		}
	}
	want := map[string]string{ // topic -> site of its partition
		"spBv1.0/hz-01/NBIRTH/edge-1":       "hz-01",
		"spBv1.0/hz-01/NDATA/edge-1":        "hz-01",
		"spBv1.0/hz-01/DDATA/edge-1/pump.2": "hz-01",
		"spBv1.0/hz-01/NDEATH/edge-1":       "hz-01",
		"spBv1.0/sz-03/NDATA/edge-9":        "sz-03",
		"riskmon/v1/hz-01/gw-1/readings":    "hz-01",
	}
	waitFor(t, 15*time.Second, "every gateway message handed on", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= len(want)
	})
	time.Sleep(500 * time.Millisecond) // room for a duplicate or a stray to arrive
	mu.Lock()
	for topic, site := range want {
		if p, ok := got[topic]; !ok || p != PartitionOf(site, parts) || count[topic] != 1 {
			t.Errorf("%s: partition %d (handed on %v, %d times), want %d once", topic, p, ok, count[topic], PartitionOf(site, parts))
		}
	}
	if len(got) != len(want) {
		t.Errorf("handed on %v, want the %d gateway messages alone", got, len(want))
	}
	mu.Unlock()

	if err := n.Publish("spBv1.0/hz-01/NCMD/edge-1", []byte("rebirth")); err != nil {
		t.Fatal(err)
	}
	// The edge node's own NCMD above ("x") reaches it too; wait for ours.
	deadline := time.After(5 * time.Second)
	for {
		select {
		case p := <-cmds:
			if p == "rebirth" {
				return
			}
		case <-deadline:
			t.Fatal("the published command did not reach the MQTT subscriber")
		}
	}
}
