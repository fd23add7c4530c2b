package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func openTestSpool(t *testing.T, o SpoolOptions) (*Spool, *SpoolMetrics) {
	t.Helper()
	m := NewSpoolMetrics(nil)
	sp, err := OpenSpool(o, m, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp, m
}

// runSpool runs sp's committer until the test ends, and fails the test if
// Run returns an error.
func runSpool(t *testing.T, sp *Spool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sp.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// appendAcked appends record i alone and waits for its acknowledgement.
func appendAcked(t *testing.T, sp *Spool, i int) {
	t.Helper()
	acked := make(chan struct{})
	b, n := record(i)
	if err := sp.Append(b, n, func() { close(acked) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-acked:
	case <-time.After(10 * time.Second):
		t.Fatalf("record %d never acknowledged", i)
	}
}

// record i holds i%5+1 lines naming it, so order and counts can be checked.
func record(i int) ([]byte, int) {
	n := i%5 + 1
	var b strings.Builder
	for k := range n {
		fmt.Fprintf(&b, "r%d.%d\n", i, k)
	}
	return []byte(b.String()), n
}

// readAll drains the spool's committed records.
func readAll(t *testing.T, sp *Spool, consume bool) (lines []string, readings int) {
	t.Helper()
	stop := make(chan struct{})
	close(stop)
	for {
		var b SpoolBatch
		ok, err := sp.Next(stop, 7, time.Millisecond, &b)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return lines, readings
		}
		lines = append(lines, strings.Split(strings.TrimSuffix(string(b.Lines), "\n"), "\n")...)
		readings += b.Readings
		if consume {
			if err := sp.Consumed(&b); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func wantLines(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		b, _ := record(i)
		out = append(out, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
	}
	return out
}

func TestSpoolAcksOnlyAfterCommitAndReadsInOrder(t *testing.T) {
	sp, m := openTestSpool(t, SpoolOptions{Dir: t.TempDir()})
	var acked atomic.Int32
	total := 0
	for i := range 20 {
		b, n := record(i)
		total += n
		if err := sp.Append(b, n, func() { acked.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	if acked.Load() != 0 {
		t.Fatal("acknowledged before the commit")
	}
	if lines, _ := readAll(t, sp, false); len(lines) != 0 {
		t.Fatalf("read %d uncommitted lines", len(lines))
	}
	if err := sp.commit(); err != nil {
		t.Fatal(err)
	}
	if acked.Load() != 20 || testutil.ToFloat64(m.Commits) != 1 {
		t.Fatalf("acked %d after one commit (%v commits)", acked.Load(), testutil.ToFloat64(m.Commits))
	}
	lines, readings := readAll(t, sp, true)
	if !slices.Equal(lines, wantLines(0, 20)) || readings != total {
		t.Fatalf("read %d readings %v", readings, lines)
	}
	if b, n, _ := sp.Backlog(); b != 0 || n != 0 {
		t.Fatalf("backlog %d bytes %d readings after consuming all", b, n)
	}
}

func TestSpoolReplaysUnconsumedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	sp, _ := openTestSpool(t, SpoolOptions{Dir: dir, SegmentBytes: 200})
	for i := range 30 {
		b, n := record(i)
		_ = sp.Append(b, n, nil)
		if i%3 == 2 {
			if err := sp.commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Consume the first batches only.
	stop := make(chan struct{})
	close(stop)
	var b SpoolBatch
	if _, err := sp.Next(stop, 7, time.Millisecond, &b); err != nil {
		t.Fatal(err)
	}
	if err := sp.Consumed(&b); err != nil {
		t.Fatal(err)
	}
	consumedLines := strings.Count(string(b.Lines), "\n")
	sp.Close()
	segsBefore, _ := filepath.Glob(filepath.Join(dir, "*.seg"))

	sp2, _ := openTestSpool(t, SpoolOptions{Dir: dir, SegmentBytes: 200})
	lines, _ := readAll(t, sp2, true)
	all := wantLines(0, 30)
	if !slices.Equal(lines, all[consumedLines:]) {
		t.Fatalf("replayed %d lines, want the %d not consumed", len(lines), len(all)-consumedLines)
	}
	segsAfter, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segsBefore) < 3 || len(segsAfter) != 1 {
		t.Fatalf("segments: %d before, %d after consuming everything (want several, then 1)", len(segsBefore), len(segsAfter))
	}
}

func TestSpoolCutsTornTail(t *testing.T) {
	tails := map[string]func(valid []byte) []byte{
		"half a record":     func(v []byte) []byte { return v[:len(v)/2] },
		"zero-filled":       func(v []byte) []byte { return make([]byte, 4096) },
		"bad checksum":      func(v []byte) []byte { w := slices.Clone(v); w[len(w)-2] ^= 0xff; return w },
		"header only":       func(v []byte) []byte { return v[:recordHeader] },
		"absurd length":     func(v []byte) []byte { return []byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0} },
		"three stray bytes": func(v []byte) []byte { return []byte{1, 2, 3} },
	}
	for name, tail := range tails {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			sp, _ := openTestSpool(t, SpoolOptions{Dir: dir})
			for i := range 5 {
				b, n := record(i)
				_ = sp.Append(b, n, nil)
			}
			if err := sp.commit(); err != nil {
				t.Fatal(err)
			}
			seg := sp.segPath(sp.wseg)
			sp.Close()
			good, _ := os.ReadFile(seg)
			// A crash mid-write: the next record only partly on disk.
			one, _ := OpenSpool(SpoolOptions{Dir: t.TempDir()}, NewSpoolMetrics(nil), slog.New(slog.DiscardHandler))
			b, n := record(99)
			_ = one.Append(b, n, nil)
			_ = one.commit()
			valid, _ := os.ReadFile(one.segPath(one.wseg))
			one.Close()
			if err := os.WriteFile(seg, append(slices.Clone(good), tail(valid)...), 0o644); err != nil {
				t.Fatal(err)
			}

			sp2, m := openTestSpool(t, SpoolOptions{Dir: dir})
			if testutil.ToFloat64(m.Torn) != 1 {
				t.Fatalf("torn records = %v, want 1", testutil.ToFloat64(m.Torn))
			}
			if st, _ := os.Stat(seg); st.Size() != int64(len(good)) {
				t.Fatalf("segment is %d bytes after repair, want %d", st.Size(), len(good))
			}
			b5, n5 := record(5)
			_ = sp2.Append(b5, n5, nil)
			if err := sp2.commit(); err != nil {
				t.Fatal(err)
			}
			lines, _ := readAll(t, sp2, true)
			if !slices.Equal(lines, wantLines(0, 6)) {
				t.Fatalf("after repair read %v", lines)
			}
		})
	}
}

func TestSpoolCapHoldsAppendsUntilConsumed(t *testing.T) {
	sp, m := openTestSpool(t, SpoolOptions{Dir: t.TempDir(), MaxBytes: 60})
	b, n := record(4) // 5 lines: 34 bytes with its header and count
	_ = sp.Append(b, n, nil)
	_ = sp.Append(b, n, nil)
	if _, _, full := sp.Backlog(); !full {
		t.Fatal("spool not full at its cap")
	}
	appended := make(chan error, 1)
	go func() { appended <- sp.Append(b, n, nil) }()
	select {
	case <-appended:
		t.Fatal("Append went through at the cap")
	case <-time.After(50 * time.Millisecond):
	}
	if testutil.ToFloat64(m.Full) != 1 {
		t.Fatal("riskmon_spool_full is not 1 at the cap")
	}
	if err := sp.commit(); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	close(stop)
	var batch SpoolBatch
	if _, err := sp.Next(stop, 5, time.Millisecond, &batch); err != nil {
		t.Fatal(err)
	}
	if err := sp.Consumed(&batch); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-appended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Append still waiting after the backlog shrank")
	}
	if testutil.ToFloat64(m.Full) != 0 {
		t.Fatal("riskmon_spool_full still 1")
	}
}

func TestSpoolSkipsCorruptRecordInsideOlderSegment(t *testing.T) {
	dir := t.TempDir()
	sp, _ := openTestSpool(t, SpoolOptions{Dir: dir, SegmentBytes: 1})
	for i := range 3 {
		b, n := record(i)
		_ = sp.Append(b, n, nil)
		if err := sp.commit(); err != nil { // one record per segment
			t.Fatal(err)
		}
	}
	first := sp.segPath(1)
	sp.Close()
	data, _ := os.ReadFile(first)
	data[len(data)-1] ^= 0xff
	if err := os.WriteFile(first, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sp2, m := openTestSpool(t, SpoolOptions{Dir: dir, SegmentBytes: 1})
	lines, _ := readAll(t, sp2, true)
	if !slices.Equal(lines, wantLines(1, 3)) {
		t.Fatalf("read %v, want records 1 and 2", lines)
	}
	if testutil.ToFloat64(m.Corrupt) < 1 {
		t.Fatal("corrupt record not counted")
	}
}

func BenchmarkSpoolAppendCommit(b *testing.B) {
	sp, err := OpenSpool(SpoolOptions{Dir: b.TempDir()}, NewSpoolMetrics(nil), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	rec := []byte(strings.Repeat(`reading,kind=combustible_gas,sector=hazchem,sensor=GT-101,site=hz-01 quality="good",value=12.5 1764345600000`+"\n", 10))
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = sp.Append(rec, 10, nil)
		if i++; i%100 == 0 { // a group commit per 100 messages
			if err := sp.commit(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10), "ns/reading")
}

// TestSpoolIdleDoesNotWake checks that the commit timer runs only while a
// record waits: an idle spool does not wake for it, a record is still
// committed and acknowledged on its own, and a burst shares commits.
func TestSpoolIdleDoesNotWake(t *testing.T) {
	sp, m := openTestSpool(t, SpoolOptions{Dir: t.TempDir(), CommitInterval: time.Millisecond})
	runSpool(t, sp)
	idle := func() {
		t.Helper()
		before := sp.wakes.Load()
		// A timer running free would wake about 100 times in this time.
		time.Sleep(100 * time.Millisecond)
		if n := sp.wakes.Load() - before; n > 2 {
			t.Errorf("idle spool woke %d times in 100 ms", n)
		}
	}
	idle()
	for round := range 3 {
		appendAcked(t, sp, round)
		idle()
	}
	if c := testutil.ToFloat64(m.Commits); c != 3 {
		t.Errorf("%v commits for 3 records appended apart, want 3", c)
	}
	// A burst from many writers shares commits.
	var wg sync.WaitGroup
	var acked atomic.Int32
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				b, n := record(w*50 + i)
				if err := sp.Append(b, n, func() { acked.Add(1) }); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for acked.Load() < 400 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if acked.Load() != 400 {
		t.Fatalf("%d of 400 records acknowledged", acked.Load())
	}
	if c := testutil.ToFloat64(m.Commits) - 3; c >= 400 {
		t.Errorf("%v commits for a burst of 400 records: none shared", c)
	}
	idle()
}

// TestSpoolTellsStoredTags: a tagged record's tag is told once it and
// every record before it are consumed, in order and once, counting from
// a backlog left by an earlier run; untagged records and records not yet
// consumed tell nothing.
func TestSpoolTellsStoredTags(t *testing.T) {
	dir := t.TempDir()
	first, _ := openTestSpool(t, SpoolOptions{Dir: dir})
	for i := range 3 {
		b, n := record(i)
		if err := first.Append(b, n, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.commit(); err != nil {
		t.Fatal(err)
	}
	first.Close()

	sp, _ := openTestSpool(t, SpoolOptions{Dir: dir})
	var told []uint64
	sp.OnStored(func(tag uint64) { told = append(told, tag) })
	for i := 3; i < 9; i++ {
		b, n := record(i)
		tag := uint64(i)
		if i == 5 {
			tag = 0 // untagged
		}
		if err := sp.AppendTagged(b, n, nil, tag); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.commit(); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	close(stop)
	consume := func(maxReadings int) {
		t.Helper()
		var b SpoolBatch
		if ok, err := sp.Next(stop, maxReadings, time.Millisecond, &b); err != nil || !ok {
			t.Fatalf("next: %v %v", ok, err)
		}
		if err := sp.Consumed(&b); err != nil {
			t.Fatal(err)
		}
	}
	// Records 0-2 (the earlier run's) hold 1+2+3 readings, record 3 four.
	consume(6)
	if len(told) != 0 {
		t.Fatalf("told %v after consuming the earlier run's records alone", told)
	}
	consume(4)
	if !slices.Equal(told, []uint64{3}) {
		t.Fatalf("told %v, want [3]", told)
	}
	readAll(t, sp, true)
	if !slices.Equal(told, []uint64{3, 4, 6, 7, 8}) {
		t.Fatalf("told %v, want [3 4 6 7 8]", told)
	}
}

// The cursor file follows the stored batches at most cursorEvery behind,
// at once when a batch ends in a new segment, and exactly after Close: a
// crash makes the next start write again only the batches of that last
// stretch, never skip one.
func TestSpoolCursorLagsBoundedly(t *testing.T) {
	tests := []struct {
		name string
		// after consuming batches 1 and 2 (within cursorEvery)
		step func(sp *Spool, third func())
		// replayed: the batches the next start reads again
		replayed []int
	}{
		{"crash", func(*Spool, func()) {}, []int{2, 3, 4}},
		{"close", func(sp *Spool, _ func()) { sp.Close() }, []int{3, 4}},
		{"a batch after cursorEvery, then a crash", func(sp *Spool, third func()) {
			sp.cursorAt = sp.cursorAt.Add(-cursorEvery)
			third()
		}, []int{4}},
		{"the clock stepped back, then a crash", func(sp *Spool, third func()) {
			sp.cursorAt = sp.cursorAt.Add(time.Hour)
			third()
		}, []int{4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			sp, err := OpenSpool(SpoolOptions{Dir: dir}, NewSpoolMetrics(nil), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			// Four batches of one record of 5 readings each.
			for i := range 4 {
				b := []byte(fmt.Sprintf("b%d.0\nb%d.1\nb%d.2\nb%d.3\nb%d.4\n", i+1, i+1, i+1, i+1, i+1))
				if err := sp.Append(b, 5, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := sp.commit(); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			close(stop)
			consume := func() {
				var b SpoolBatch
				if ok, err := sp.Next(stop, 5, time.Millisecond, &b); !ok || err != nil {
					t.Fatalf("no batch: %v", err)
				}
				if err := sp.Consumed(&b); err != nil {
					t.Fatal(err)
				}
			}
			consume()
			consume()
			tt.step(sp, consume)

			// The next start, with the first spool's files as they are.
			sp2, err := OpenSpool(SpoolOptions{Dir: dir}, NewSpoolMetrics(nil), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer sp2.Close()
			lines, _ := readAll(t, sp2, false)
			var got []int
			for _, l := range lines {
				var b, k int
				if _, err := fmt.Sscanf(l, "b%d.%d", &b, &k); err != nil {
					t.Fatalf("line %q", l)
				}
				if k == 0 {
					got = append(got, b)
				}
			}
			if !slices.Equal(got, tt.replayed) {
				t.Errorf("the next start reads batches %v, want %v", got, tt.replayed)
			}
		})
	}
}

// A batch that ends in a later segment than the last one moves the
// cursor file at once and deletes the segments before it, however soon
// after the last rewrite.
func TestSpoolCursorFollowsSegments(t *testing.T) {
	dir := t.TempDir()
	sp, _ := openTestSpool(t, SpoolOptions{Dir: dir, SegmentBytes: 64})
	for i := range 12 {
		b, n := record(i)
		if err := sp.Append(b, n, nil); err != nil {
			t.Fatal(err)
		}
		if err := sp.commit(); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	lines, _ := readAll(t, sp, true)
	after, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(before) < 3 || len(after) != 1 {
		t.Fatalf("segments %d before, %d after consuming all; want several, then 1", len(before), len(after))
	}
	// No Close: the cursor was written when the last segment was reached.
	sp2, _ := openTestSpool(t, SpoolOptions{Dir: dir, SegmentBytes: 64})
	again, _ := readAll(t, sp2, false)
	if len(again) > len(lines)/2 || !slices.Equal(again, lines[len(lines)-len(again):]) {
		t.Fatalf("the next start reads %v again of %d lines; want no more than the end of the last segment", again, len(lines))
	}
}

// Messages that come one at a time stretch the commit wait, doubling per
// commit of a lone message up to CommitIntervalMax; commitQuorum messages
// waiting then commit at once, not at the end of the stretched wait, and
// a commit that full puts the wait back. With CommitIntervalMax equal to
// CommitInterval the wait never stretches.
func TestSpoolStretchesCommitWait(t *testing.T) {
	tests := []struct {
		name      string
		max       time.Duration
		stretches bool
	}{
		{"stretching", 10 * time.Second, true},
		{"max equal to the interval", 20 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp, m := openTestSpool(t, SpoolOptions{Dir: t.TempDir(), CommitInterval: 20 * time.Millisecond, CommitIntervalMax: tt.max})
			runSpool(t, sp)
			// Six lone messages, each acknowledged before the next:
			// waits of 20, 40, 80, 160, 320 and 640 ms when stretching.
			for i := range 6 {
				appendAcked(t, sp, i)
			}
			waitFor := func(want bool) {
				t.Helper()
				deadline := time.Now().Add(5 * time.Second)
				for sp.stretched.Load() != want && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if got := sp.stretched.Load(); got != want {
					t.Fatalf("stretched %v, want %v", got, want)
				}
			}
			waitFor(tt.stretches)
			if !tt.stretches {
				return
			}
			// The wait is now 1.28 s; a quorum commits at once.
			start := time.Now()
			var acked sync.WaitGroup
			acked.Add(commitQuorum)
			for i := range commitQuorum {
				b, n := record(10 + i)
				if err := sp.Append(b, n, acked.Done); err != nil {
					t.Fatal(err)
				}
			}
			acked.Wait()
			if d := time.Since(start); d > 640*time.Millisecond {
				t.Errorf("a quorum of %d messages waited %s for its commit, as long as a stretched wait", commitQuorum, d)
			}
			if c := testutil.ToFloat64(m.Commits); c != 7 {
				t.Errorf("%v commits, want 6 lone ones and 1 for the quorum", c)
			}
			waitFor(false)
		})
	}
}
