package ingest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskmon/riskmon/storage"
)

type testPipeline struct {
	*Pipeline
	m      *Metrics
	dl     *DeadLetter
	influx *storage.Client
	stop   func() error
}

// startPipeline runs collector, spool and forwarder against a broker and
// an InfluxDB, with the spool in dir (a temp dir when empty).
func startPipeline(t *testing.T, brokerURL, influxURL, clientID, dir string, onRead ReadingsFunc) *testPipeline {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	m := NewMetrics(nil)
	dl, err := OpenDeadLetter(DeadLetterOptions{Path: filepath.Join(dir, "dl.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := OpenSpool(SpoolOptions{Dir: filepath.Join(dir, "spool")}, NewSpoolMetrics(nil), log)
	if err != nil {
		t.Fatal(err)
	}
	inf := storage.New(storage.Options{URL: influxURL, Bucket: "riskmon"})
	p := &Pipeline{
		Spool:     sp,
		Forwarder: NewForwarder(sp, inf, WriterOptions{FlushInterval: 20 * time.Millisecond, RetryMax: 500 * time.Millisecond}, m, log),
		Collector: NewCollector(CollectorOptions{Broker: brokerURL, ClientID: clientID}, testRegistry(t), Limits{},
			NewRejecter(m, dl, log, time.Minute), m, sp, onRead, nil, log, nil),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	tp := &testPipeline{Pipeline: p, m: m, dl: dl, influx: inf}
	var stopped bool
	var stopErr error
	tp.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			stopErr = <-done
			dl.Close()
		}
		return stopErr
	}
	t.Cleanup(func() { _ = tp.stop(); inf.Close() })
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	defer wcancel()
	if err := p.Collector.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	return tp
}

// waitFor polls cond until it holds or the limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
