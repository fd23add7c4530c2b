package cluster

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestReplayAboveStoredFloor: an instance acknowledges every message it
// is handed (its spool has them) but stores only the first 30 it is
// handed of 50 (in each partition, those first handed), then
// stops without handing over, as a killed process with a lost disk does.
// The instance that takes its partitions over is handed the 20 unstored
// messages again, marked replayed, before the partitions' new messages;
// once it has stored everything, the stored floor of each partition is
// its last message.
func TestReplayAboveStoredFloor(t *testing.T) {
	nc := natsCluster(t, 1)
	const parts = 2
	base := Options{URLs: nc.URLs(), Partitions: parts, Replicas: 1, LeaseTTL: 2 * time.Second, AckWait: 3 * time.Second}
	oa, ob := base, base
	oa.Instance, ob.Instance = "a", "b"
	a := connect(t, oa)
	var mu sync.Mutex
	handed := 0
	unstored := map[string]bool{}
	actx, stopA := context.WithCancel(context.Background())
	aDone := make(chan struct{})
	go func() {
		defer close(aDone)
		_ = a.Run(actx, func(m *Msg) {
			mu.Lock()
			handed++
			store := handed <= 30
			if !store {
				unstored[string(m.Payload())] = true
			}
			mu.Unlock()
			m.Ack()
			if store {
				a.Stored(m.StoredTag())
			}
		})
	}()
	t.Cleanup(func() { stopA(); <-aDone })
	waitFor(t, 15*time.Second, "a owns both partitions", func() bool { return len(a.Owned()) == parts })

	pub := mqttClient(t, nc.Nodes[0].MQTTURL())
	sites := []string{"hz-01", "sz-03", "cq-04", "wh-05"}
	send := func(from, to int) {
		for i := from; i < to; i++ {
			tok := pub.Publish(fmt.Sprintf("riskmon/v1/%s/gw-1/readings", sites[i%len(sites)]), 1, false, strconv.Itoa(i))
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("publish %d: %v", i, tok.Error())
			}
		}
	}
	send(0, 50)
	waitFor(t, 15*time.Second, "a handed 50 messages", func() bool { mu.Lock(); defer mu.Unlock(); return handed == 50 })
	time.Sleep(2 * floorEvery) // a writes its floors
	stopA()
	<-aDone

	b := connect(t, ob)
	type got struct {
		payload string
		replay  bool
	}
	var bmu sync.Mutex
	var seen []got
	bctx, stopB := context.WithCancel(context.Background())
	bDone := make(chan struct{})
	go func() {
		defer close(bDone)
		_ = b.Run(bctx, func(m *Msg) {
			bmu.Lock()
			seen = append(seen, got{string(m.Payload()), m.Replayed()})
			bmu.Unlock()
			m.Ack()
			b.Stored(m.StoredTag())
		})
	}()
	t.Cleanup(func() { stopB(); <-bDone })
	waitFor(t, 15*time.Second, "b owns both partitions", func() bool { return len(b.Owned()) == parts })
	send(50, 60)
	waitFor(t, 15*time.Second, "b handed the 20 unstored and the 10 new", func() bool {
		bmu.Lock()
		defer bmu.Unlock()
		return len(seen) >= 30
	})
	time.Sleep(500 * time.Millisecond)
	bmu.Lock()
	replayed := map[string]bool{}
	for _, g := range seen {
		n, _ := strconv.Atoi(g.payload)
		switch {
		case g.replay && unstored[g.payload]:
			replayed[g.payload] = true
		case !g.replay && n >= 50:
		default:
			t.Errorf("b was handed message %s, replayed %v", g.payload, g.replay)
		}
	}
	if len(replayed) != 20 || len(seen) != 30 {
		t.Errorf("b was handed %d messages, %d distinct of a's unstored 20 replayed: %v", len(seen), len(replayed), seen)
	}
	bmu.Unlock()

	// Every message stored: each floor reaches its partition's last one.
	info, err := b.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	last := info.State.LastSeq
	waitFor(t, 5*time.Second, "the floors written up to the stream's last messages", func() bool {
		high := uint64(0)
		for p := range parts {
			e, err := b.floors.Get(context.Background(), floorKey(p))
			if err != nil {
				return false
			}
			v, _ := strconv.ParseUint(string(e.Value()), 10, 64)
			high = max(high, v)
		}
		return high == last
	})
}
