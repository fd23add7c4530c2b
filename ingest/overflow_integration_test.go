package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riskmon/riskmon/internal/testenv"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/storage"
)

// TestQueueOverflowRecoversIntegration makes the worker queue far smaller
// than the broker's in-flight window and the worker slow: messages that
// find the queue full are left unacknowledged, and the collector
// reconnects once it has caught up so the broker sends them again.
func TestQueueOverflowRecoversIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	influx := testenv.Influx(t)
	for i, b := range testenv.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) { overflowRun(t, influx.URL, b, time.Duration(i)*time.Hour) })
	}
}

func overflowRun(t *testing.T, influxURL string, b testenv.Broker, offset time.Duration) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	m := NewMetrics(nil)
	dl, _ := OpenDeadLetter(DeadLetterOptions{})
	sp, err := OpenSpool(SpoolOptions{Dir: filepath.Join(t.TempDir(), "spool")}, NewSpoolMetrics(nil), log)
	if err != nil {
		t.Fatal(err)
	}
	inf := storage.New(storage.Options{URL: influxURL, Bucket: "riskmon"})
	defer inf.Close()
	reg := prometheus.NewRegistry()
	slow := func([]sensors.Reading) { time.Sleep(time.Millisecond) }
	p := &Pipeline{
		Spool:     sp,
		Forwarder: NewForwarder(sp, inf, WriterOptions{FlushInterval: 20 * time.Millisecond}, m, log),
		Collector: NewCollector(CollectorOptions{Broker: b.URL, ClientID: "riskmon-overflow", Workers: 1, QueueSize: 100},
			testRegistry(t), Limits{}, NewRejecter(m, dl, log, time.Minute), m, sp, slow, nil, log, reg),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := p.Collector.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}

	const n = 500
	base := time.Now().Add(-3 * time.Hour).Add(offset).Truncate(time.Second)
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL).SetClientID("overflow-pub"))
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(50)
	var toks []mqtt.Token
	for i := range n {
		toks = append(toks, pub.Publish("riskmon/v1/hz-01/gw-1/readings", 1, false,
			fmt.Sprintf(`{"ts":%d,"readings":[{"sensor":"GT-101","value":1}]}`, base.Add(time.Duration(i)*time.Second).UnixMilli())))
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	var stored int64
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		stored, _ = inf.CountReadings(context.Background(), base.Add(-time.Minute), base.Add(n*time.Second))
		if stored == n {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	overflows := testutil.ToFloat64(p.Collector.overflow)
	t.Logf("%v messages found the queue full; %d of %d readings stored", overflows, stored, n)
	if overflows == 0 {
		t.Fatal("the queue never overflowed; the test proves nothing")
	}
	if stored != n {
		t.Fatalf("stored %d readings, want %d", stored, n)
	}
}
