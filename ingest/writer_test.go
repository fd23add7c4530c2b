package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/storage"
)

// fakeInflux answers /api/v2/write with a scripted sequence of statuses
// and records the bodies it accepted.
type fakeInflux struct {
	mu       sync.Mutex
	statuses []int
	calls    int
	accepted []string
	query    string
}

func (f *fakeInflux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.query = r.URL.RawQuery
	status := http.StatusNoContent
	if f.calls < len(f.statuses) {
		status = f.statuses[f.calls]
	}
	f.calls++
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	if status >= 300 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"code":"x","message":"status %d"}`, status)
		return
	}
	f.accepted = append(f.accepted, string(body))
	w.WriteHeader(status)
}

func readingsN(n int) []sensors.Reading {
	rs := make([]sensors.Reading, n)
	for i := range rs {
		rs[i] = sensors.Reading{Site: "hz-01", Sensor: fmt.Sprintf("GT-%d", i), Kind: "combustible_gas",
			Sector: sensors.SectorHazchem, Value: float64(i) + 0.5, Time: time.UnixMilli(1764345600000 + int64(i))}
	}
	return rs
}

// spoolWith appends one record per batch of readings and commits them.
func spoolWith(t *testing.T, dir string, batches ...[]sensors.Reading) *Spool {
	t.Helper()
	sp, err := OpenSpool(SpoolOptions{Dir: dir, CommitInterval: time.Millisecond}, NewSpoolMetrics(nil), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range batches {
		var lines []byte
		for i := range rs {
			lines = storage.AppendReading(lines, &rs[i])
		}
		if err := sp.Append(lines, len(rs), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.commit(); err != nil {
		t.Fatal(err)
	}
	return sp
}

func TestForwarderStatusContract(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []int
		wantCalls int
		stored    bool // readings end up in the fake's accepted bodies
		dbReject  float64
	}{
		{"ok first time", nil, 1, true, 0},
		{"503 then ok", []int{503, 503}, 3, true, 0},
		{"429 with retry-after then ok", []int{429}, 2, true, 0},
		{"500 then ok", []int{500}, 2, true, 0},
		{"401 kept and retried", []int{401, 401}, 3, true, 0},
		{"404 database missing kept and retried", []int{404}, 2, true, 0},
		{"400 refused for good", []int{400}, 1, false, 5},
		{"422 refused for good", []int{422}, 1, false, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeInflux{statuses: tt.statuses}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			inf := storage.New(storage.Options{URL: srv.URL, Bucket: "riskmon"})
			defer inf.Close()
			m := NewMetrics(nil)
			sp := spoolWith(t, t.TempDir(), readingsN(5))
			defer sp.Close()
			// One request per batch: the contract is per request.
			f := NewForwarder(sp, inf, WriterOptions{BatchSize: 5, FlushInterval: 10 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, Concurrency: 1}, m, slog.New(slog.DiscardHandler))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- f.Run(ctx) }()
			deadline := time.Now().Add(10 * time.Second)
			for {
				if _, n, _ := sp.Backlog(); n == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			if _, n, _ := sp.Backlog(); n != 0 {
				t.Fatalf("%d readings left in the spool", n)
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if fake.calls != tt.wantCalls {
				t.Errorf("%d write requests, want %d", fake.calls, tt.wantCalls)
			}
			if got := len(fake.accepted) == 1; got != tt.stored {
				t.Errorf("stored = %v, want %v", got, tt.stored)
			}
			if tt.stored && strings.Count(fake.accepted[0], "\n") != 5 {
				t.Errorf("body has %d lines, want 5:\n%s", strings.Count(fake.accepted[0], "\n"), fake.accepted[0])
			}
			if !strings.Contains(fake.query, "precision=ms") || !strings.Contains(fake.query, "bucket=riskmon") {
				t.Errorf("write query %q lacks precision=ms and bucket", fake.query)
			}
			if got := testutil.ToFloat64(m.Rejected(ReasonDBRejected)); got != tt.dbReject {
				t.Errorf("db_rejected = %v, want %v", got, tt.dbReject)
			}
			if tt.stored && testutil.ToFloat64(m.Written) != 5 {
				t.Errorf("written = %v, want 5", testutil.ToFloat64(m.Written))
			}
		})
	}
}

func TestForwarderBatchesBySize(t *testing.T) {
	fake := &fakeInflux{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	inf := storage.New(storage.Options{URL: srv.URL, Bucket: "riskmon"})
	defer inf.Close()
	var batches [][]sensors.Reading
	for range 25 {
		batches = append(batches, readingsN(10))
	}
	sp := spoolWith(t, t.TempDir(), batches...)
	defer sp.Close()
	f := NewForwarder(sp, inf, WriterOptions{BatchSize: 100, FlushInterval: time.Hour, Concurrency: 1}, NewMetrics(nil), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	// 250 readings with a batch size of 100: two full batches go at once;
	// the last 50 wait for the (hour-long) linger, or for shutdown.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, n, _ := sp.Backlog(); n == 50 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, n, _ := sp.Backlog(); n != 50 {
		t.Fatalf("backlog = %d readings, want 50", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, n, _ := sp.Backlog(); n != 0 {
		t.Fatalf("shutdown drain left %d readings", n)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.accepted) != 3 {
		t.Fatalf("%d write requests, want 3", len(fake.accepted))
	}
}

// TestForwarderConcurrentBySeries: a batch is split into requests sent at
// once, each series wholly in one of them, and the next batch waits until
// all are stored: every reading is stored once, every series in order,
// also when one request fails and is retried.
func TestForwarderConcurrentBySeries(t *testing.T) {
	for _, conc := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("concurrency %d", conc), func(t *testing.T) {
			fake := &fakeInflux{statuses: []int{503}} // the first request fails once
			srv := httptest.NewServer(fake)
			defer srv.Close()
			inf := storage.New(storage.Options{URL: srv.URL, Bucket: "riskmon"})
			defer inf.Close()
			// 12 batches of the same 10 sensors, each later in time.
			var batches [][]sensors.Reading
			for b := range 12 {
				rs := readingsN(10)
				for i := range rs {
					rs[i].Time = rs[i].Time.Add(time.Duration(b) * time.Second)
				}
				batches = append(batches, rs)
			}
			sp := spoolWith(t, t.TempDir(), batches...)
			defer sp.Close()
			m := NewMetrics(nil)
			f := NewForwarder(sp, inf, WriterOptions{BatchSize: 30, FlushInterval: 5 * time.Millisecond,
				RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, Concurrency: conc}, m, slog.New(slog.DiscardHandler))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- f.Run(ctx) }()
			deadline := time.Now().Add(10 * time.Second)
			for {
				if _, n, _ := sp.Backlog(); n == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := testutil.ToFloat64(m.Written); got != 120 {
				t.Fatalf("written = %v, want 120", got)
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			seen := map[string]bool{}
			last := map[string]string{} // series -> time of its last line, in the order stored
			for _, body := range fake.accepted {
				inBody := map[string]bool{}
				for line := range strings.Lines(body) {
					if seen[line] {
						t.Fatalf("stored twice: %s", line)
					}
					seen[line] = true
					fields := strings.Fields(line)
					series, ts := fields[0], fields[2]
					inBody[series] = true
					if prev, ok := last[series]; ok && ts <= prev {
						t.Fatalf("series %s stored out of order: %s after %s", series, ts, prev)
					}
					last[series] = ts
				}
				if conc > 1 && len(inBody) == 10 {
					t.Fatalf("a request carries all 10 series; want them split over %d requests", conc)
				}
			}
			if len(seen) != 120 {
				t.Fatalf("%d distinct lines stored, want 120", len(seen))
			}
		})
	}
}

func TestSplitBySeries(t *testing.T) {
	lines := "reading,sensor=a\\ b,site=s value=1 1\n" +
		"reading,sensor=c,site=s value=1 1\n" +
		"reading,sensor=a\\ b,site=s value=2 2\n" +
		"alert_event,rule=r,sensor=c,site=s alert_id=\"x y\" 3\n" +
		"reading,sensor=c,site=s value=3 3" // no final newline
	for n := 1; n <= 4; n++ {
		lanes := splitBySeries([]byte(lines), nil, n)
		if len(lanes) != n {
			t.Fatalf("%d lanes, want %d", len(lanes), n)
		}
		var all []string
		where := map[string]int{}
		for i, l := range lanes {
			for line := range strings.Lines(string(l)) {
				all = append(all, strings.TrimSuffix(line, "\n"))
				key, _, _ := strings.Cut(strings.ReplaceAll(line, "\\ ", "_"), " ")
				if j, ok := where[key]; ok && j != i {
					t.Fatalf("n=%d: series %s in lanes %d and %d", n, key, j, i)
				}
				where[key] = i
			}
		}
		if len(all) != 5 {
			t.Fatalf("n=%d: %d lines after the split, want 5: %q", n, len(all), all)
		}
	}
	if got := countReadingLines([]byte(lines)); got != 4 {
		t.Fatalf("countReadingLines = %d, want 4", got)
	}
}

func TestForwarderShutdownLeavesUnwrittenInSpool(t *testing.T) {
	fake := &fakeInflux{statuses: slices.Repeat([]int{503}, 1000)}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	inf := storage.New(storage.Options{URL: srv.URL, Bucket: "riskmon"})
	defer inf.Close()
	dir := t.TempDir()
	sp := spoolWith(t, dir, readingsN(5))
	f := NewForwarder(sp, inf, WriterOptions{BatchSize: 5, RetryMin: 10 * time.Millisecond, RetryMax: 10 * time.Millisecond, ShutdownTimeout: 50 * time.Millisecond}, NewMetrics(nil), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	time.Sleep(30 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sp.Close()
	sp2, err := OpenSpool(SpoolOptions{Dir: dir}, NewSpoolMetrics(nil), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer sp2.Close()
	if _, n, _ := sp2.Backlog(); n != 5 {
		t.Fatalf("reopened spool holds %d readings, want the 5 unwritten", n)
	}
}
