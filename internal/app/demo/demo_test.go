package demo

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer the demo writes to while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func quietDemo(d time.Duration, state string) Options {
	return Options{
		Duration: d, StateDir: state, SitesPerSector: 1,
		HTTPAddr: "127.0.0.1:0", BrokerAddr: "127.0.0.1:0", InfluxPort: 0,
		Interval: 500 * time.Millisecond, Malformed: 0, StatusEvery: 2 * time.Second,
	}
}

// TestDemoIntegration runs what `make run` runs, for a fixed time: it must
// store every published reading and raise the scripted leak's alert.
func TestDemoIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	var out bytes.Buffer
	err := Run(context.Background(), &out, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{
		Duration: 12 * time.Second, StateDir: t.TempDir(), SitesPerSector: 1,
		HTTPAddr: "127.0.0.1:0", BrokerAddr: "127.0.0.1:0", InfluxPort: 0,
		Interval: 500 * time.Millisecond, Malformed: 2, StatusEvery: 2 * time.Second,
	})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"riskmon demo is up", "readings/s", "lost                 0", "alerts raised        1", "rejected             2"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
}

// TestDemoStopThenTimedRun is the README's check run as a newcomer meets
// it: `make run` stopped with Ctrl-C, then `riskmon demo --for` at once on
// the same state folder. The timed run must count only its own readings,
// and the stopped run must leave no gateway-offline alarm behind.
func TestDemoStopThenTimedRun(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	state := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	// The interactive run, stopped by an interrupt once it has published
	// for a few seconds.
	ctx, interrupt := context.WithCancel(context.Background())
	var first syncBuffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, &first, log, quietDemo(0, state)) }()
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(first.String(), "readings/s") < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	interrupt()
	if err := <-done; err != nil {
		t.Fatalf("interactive demo: %v\n%s", err, first.String())
	}
	out := first.String()
	if !strings.Contains(out, "stopped") {
		t.Fatalf("interactive demo did not stop cleanly:\n%s", out)
	}
	// One account per role, with a password, in the banner.
	if !regexp.MustCompile(`admin / \S{8,}\s+operator / \S{8,}\s+viewer / \S{8,}`).MatchString(out) {
		t.Errorf("banner lacks the demo accounts:\n%s", out)
	}
	noOfflineAlarms(t, state, "a Ctrl-C stop")

	// At once the timed check, on the same state folder and InfluxDB data.
	var second bytes.Buffer
	if err := Run(context.Background(), &second, log, quietDemo(8*time.Second, state)); err != nil {
		t.Fatalf("timed demo right after an interactive one: %v\n%s", err, second.String())
	}
	if !strings.Contains(second.String(), "lost                 0") {
		t.Errorf("timed demo summary:\n%s", second.String())
	}
	noOfflineAlarms(t, state, "the end of a timed run")
}

// noOfflineAlarms fails the test when anything the service kept (alert
// store, journal) holds a gateway_offline alarm: the demo's end is
// planned, not a site losing its monitoring.
func noOfflineAlarms(t *testing.T, state, after string) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join(state, "demo"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, "influxdb") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("gateway_offline")) {
			t.Errorf("%s holds a gateway_offline alarm after %s", p, after)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
