package ingest

import (
	"context"
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riskmon/riskmon/internal/broker"
	"github.com/riskmon/riskmon/internal/testenv"
)

// TestReconnectResubscribesIntegration restarts the broker under the
// collector. The new broker knows nothing of the old session, so only the
// collector's resubscribe on reconnect brings readings back.
func TestReconnectResubscribesIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	influx := testenv.Influx(t)
	b1, err := broker.Start(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := b1.Addr()
	tp := startPipeline(t, b1.URL(), influx.URL, "riskmon-reconnect", "", nil)
	c, m, inf := tp.Collector, tp.m, tp.influx
	ctx := context.Background()

	base := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	publish := func(url string, from, n int) {
		t.Helper()
		p := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("pub-%d", from)))
		if tok := p.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publisher: %v", tok.Error())
		}
		defer p.Disconnect(50)
		for i := from; i < from+n; i++ {
			tok := p.Publish("riskmon/v1/hz-01/gw-1/readings", 1, false,
				fmt.Sprintf(`{"ts":%d,"readings":[{"sensor":"GT-101","value":%d}]}`, base.Add(time.Duration(i)*time.Second).UnixMilli(), i%20))
			if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("publish: %v", tok.Error())
			}
		}
	}
	waitAcked := func(n float64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for testutil.ToFloat64(m.Acked) < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := testutil.ToFloat64(m.Acked); got != n {
			t.Fatalf("acked %v, want %v", got, n)
		}
	}

	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	publish(b1.URL(), 0, 50)
	waitAcked(50)

	b1.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Connected() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c.Connected() {
		t.Fatal("collector did not notice the broker going away")
	}
	var b2 *broker.Broker
	for time.Now().Before(deadline) {
		if b2, err = broker.Start(broker.Options{Addr: addr}); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if b2 == nil {
		t.Fatalf("restart broker on %s: %v", addr, err)
	}
	defer b2.Close()
	if err := c.WaitConnected(wctx); err != nil {
		t.Fatalf("collector did not reconnect: %v", err)
	}
	publish(b2.URL(), 50, 50)
	waitAcked(100)
	waitFor(t, 20*time.Second, "spool drained", func() bool { _, n, _ := tp.Spool.Backlog(); return n == 0 })
	n, err := inf.CountReadings(context.Background(), base.Add(-time.Minute), base.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n != 100 {
		t.Fatalf("InfluxDB holds %d readings, want 100", n)
	}
	if testutil.ToFloat64(m.Connected) != 1 {
		t.Fatal("riskmon_mqtt_connected is not 1 after the reconnect")
	}
}
