package ingest

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riskmon/riskmon/internal/testenv"
)

// segmentWith writes records from..to-1 into a fresh spool in dir, one
// commit each, and returns the offset of every record in its segment.
func segmentWith(t testing.TB, dir string, opts SpoolOptions, from, to int) map[int]SpoolPos {
	t.Helper()
	opts.Dir = dir
	sp, err := OpenSpool(opts, NewSpoolMetrics(nil), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	at := map[int]SpoolPos{}
	for i := from; i < to; i++ {
		at[i] = SpoolPos{Seg: sp.wseg, Off: sp.wsize}
		b, n := record(i)
		_ = sp.Append(b, n, nil)
		if err := sp.commit(); err != nil {
			t.Fatal(err)
		}
	}
	return at
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[off] ^= 0x5a
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// One flipped byte loses its own record and nothing else, wherever in the
// record it lands and whichever segment holds it; the loss is reported
// with its segment, offset and readings, once.
func TestSpoolFlippedByteLosesOnlyItsRecord(t *testing.T) {
	const victim = 7 // record 7 holds 3 readings
	_, victimReadings := record(victim)
	positions := map[string]func(size int64) int64{
		"length field":  func(int64) int64 { return 1 },
		"checksum":      func(int64) int64 { return 5 },
		"reading count": func(int64) int64 { return recordHeader },
		"mid payload":   func(size int64) int64 { return size / 2 },
		"last byte":     func(size int64) int64 { return size - 1 },
	}
	segments := map[string]int64{
		"newest segment": 1 << 20, // all in one segment, the one written to
		"older segment":  120,     // several records a segment; the victim's is not the newest
	}
	for segName, segBytes := range segments {
		for posName, pos := range positions {
			t.Run(segName+"/"+posName, func(t *testing.T) {
				dir := t.TempDir()
				opts := SpoolOptions{Dir: dir, SegmentBytes: segBytes}
				at := segmentWith(t, dir, opts, 0, 20)
				size := at[victim+1].Off - at[victim].Off
				if at[victim+1].Seg != at[victim].Seg {
					t.Fatalf("victim is the last record of its segment; pick another")
				}
				v := at[victim]
				flip(t, filepathSeg(dir, v.Seg), v.Off+pos(size))

				sp, m := openTestSpool(t, opts)
				if segName == "newest segment" && v.Seg != sp.wseg {
					t.Fatalf("victim in segment %d, newest is %d", v.Seg, sp.wseg)
				}
				if segName == "older segment" && v.Seg == sp.wseg {
					t.Fatal("victim in the newest segment")
				}
				lines, readings := readAll(t, sp, true)
				want := append(wantLines(0, victim), wantLines(victim+1, 20)...)
				if !slices.Equal(lines, want) {
					t.Fatalf("read %d lines, want %d: %v", len(lines), len(want), lines)
				}
				dmg := sp.TakeDamage()
				if len(dmg) != 1 {
					t.Fatalf("damage reports %v, want one", dmg)
				}
				d := dmg[0]
				if d.Seg != v.Seg || d.Off != v.Off || d.Bytes != size || d.Readings != int64(victimReadings) {
					t.Fatalf("reported %v; want segment %d offset %d, %d bytes, %d readings", d, v.Seg, v.Off, size, victimReadings)
				}
				if got := testutil.ToFloat64(m.Corrupt); got != 1 {
					t.Fatalf("corrupt records counted %v times, want once", got)
				}
				if got := testutil.ToFloat64(m.Lost); got != float64(victimReadings) {
					t.Fatalf("lost readings %v, want %d", got, victimReadings)
				}
				if b, n, _ := sp.Backlog(); b != 0 || n != 0 {
					t.Fatalf("backlog %d bytes %d readings after reading everything", b, n)
				}
				// New records follow the old ones after the repair.
				total := readings
				b, n := record(20)
				_ = sp.Append(b, n, nil)
				if err := sp.commit(); err != nil {
					t.Fatal(err)
				}
				lines, readings = readAll(t, sp, true)
				if !slices.Equal(lines, wantLines(20, 21)) || total+readings == 0 {
					t.Fatalf("after the repair read %v", lines)
				}
			})
		}
	}
}

func filepathSeg(dir string, seg uint64) string {
	s := &Spool{opts: SpoolOptions{Dir: dir}}
	return s.segPath(seg)
}

// Damage after the spool was opened (a record going bad on disk before
// the forwarder reads it) is found by the reader, skipped up to the next
// good record, and reported; the backlog still drains to zero.
func TestSpoolReaderResyncsPastDamage(t *testing.T) {
	dir := t.TempDir()
	sp, m := openTestSpool(t, SpoolOptions{Dir: dir})
	var at []int64
	for i := range 10 {
		at = append(at, sp.wsize)
		b, n := record(i)
		_ = sp.Append(b, n, nil)
		if err := sp.commit(); err != nil {
			t.Fatal(err)
		}
	}
	flip(t, sp.segPath(sp.wseg), at[4]+recordHeader+2)
	lines, _ := readAll(t, sp, true)
	if want := append(wantLines(0, 4), wantLines(5, 10)...); !slices.Equal(lines, want) {
		t.Fatalf("read %v", lines)
	}
	_, n4 := record(4)
	if d := sp.TakeDamage(); len(d) != 1 || d[0].Off != at[4] || d[0].Readings != int64(n4) {
		t.Fatalf("damage %v", d)
	}
	if b, n, _ := sp.Backlog(); b != 0 || n != 0 || testutil.ToFloat64(m.Corrupt) != 1 {
		t.Fatalf("backlog %d bytes %d readings, %v corrupt", b, n, testutil.ToFloat64(m.Corrupt))
	}
}

// A whole last record whose checksum fails is cut like a torn write but
// reported as possible loss, since it may have been acknowledged.
func TestSpoolDamagedLastRecordIsReported(t *testing.T) {
	dir := t.TempDir()
	at := segmentWith(t, dir, SpoolOptions{}, 0, 5)
	flip(t, filepathSeg(dir, 1), at[4].Off+recordHeader+3)
	sp, m := openTestSpool(t, SpoolOptions{Dir: dir})
	_, n4 := record(4)
	d := sp.TakeDamage()
	if len(d) != 1 || !d[0].AtEnd || d[0].Readings != int64(n4) || testutil.ToFloat64(m.Torn) != 1 {
		t.Fatalf("damage %v, torn %v", d, testutil.ToFloat64(m.Torn))
	}
	if lines, _ := readAll(t, sp, true); !slices.Equal(lines, wantLines(0, 4)) {
		t.Fatalf("read %v", lines)
	}
}

// On a real filesystem that fills up, the spool stops acknowledging,
// holds intake, says so, keeps running, and carries on by itself once the
// forwarder's progress frees space: every acknowledged record is read
// back once, in order.
func TestSpoolFullDiskHoldsIntakeAndHeals(t *testing.T) {
	dir := testenv.SmallFS(t, 256<<10)
	opts := SpoolOptions{Dir: dir, SegmentBytes: 32 << 10, CommitInterval: time.Millisecond}
	m := NewSpoolMetrics(nil)
	sp, err := OpenSpool(opts, m, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- sp.Run(ctx) }()

	const total = 3000 // about 600 KiB: more than the filesystem holds
	rec := make([]byte, 200)
	for i := range rec {
		rec[i] = 'x'
	}
	rec[len(rec)-1] = '\n'
	var mu sync.Mutex
	var acked []int
	var appended atomic.Int32
	go func() {
		for i := range total {
			line := append([]byte(nil), rec...)
			copy(line, []byte{byte('0' + i/1000%10), byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)})
			if err := sp.Append(line, 1, func() { mu.Lock(); acked = append(acked, i); mu.Unlock() }); err != nil {
				return
			}
			appended.Add(1)
			if i%20 == 0 {
				// Paced, as the broker's in-flight window paces
				// real intake.
				time.Sleep(time.Millisecond)
			}
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := sp.WriteFailing(); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the spool never reported a failing write on a full filesystem")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if testutil.ToFloat64(m.WriteFailing) != 1 {
		t.Error("riskmon_spool_write_failing is not 1")
	}
	mu.Lock()
	ackedAtFull := len(acked)
	mu.Unlock()
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	if len(acked) != ackedAtFull {
		t.Errorf("acknowledged %d records while the disk was full", len(acked)-ackedAtFull)
	}
	mu.Unlock()
	if sp.TryAppend([]byte("alert\n"), 1) {
		t.Error("TryAppend accepted a record while writes fail")
	}
	if a := appended.Load(); a >= total {
		t.Fatal("intake did not wait while writes fail")
	}
	select {
	case err := <-runErr:
		t.Fatalf("Run returned on a full disk: %v", err)
	default:
	}

	// The forwarder stores what is there: segments go, space returns.
	var got []string
	stop := make(chan struct{})
	deadline = time.Now().Add(60 * time.Second)
	for len(got) < total && time.Now().Before(deadline) {
		var b SpoolBatch
		ok, err := sp.Next(stop, 100, time.Millisecond, &b)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			continue
		}
		for l := range slices.Values(splitLines(b.Lines)) {
			got = append(got, l[:4])
		}
		if err := sp.Consumed(&b); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	if len(got) != total {
		t.Fatalf("read back %d records of %d", len(got), total)
	}
	for i, l := range got {
		if want := string([]byte{byte('0' + i/1000%10), byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)}); l != want {
			t.Fatalf("record %d is %q: out of order or doubled", i, l)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) != total {
		t.Fatalf("acknowledged %d of %d", len(acked), total)
	}
	if _, err := sp.WriteFailing(); err != nil || testutil.ToFloat64(m.WriteFailing) != 0 {
		t.Fatalf("still failing after space returned: %v", err)
	}
}

func splitLines(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := slices.Index(b, '\n')
		if i < 0 {
			out = append(out, string(b))
			break
		}
		out = append(out, string(b[:i]))
		b = b[i+1:]
	}
	return out
}

// FuzzSpoolSegment opens a spool whose segment holds arbitrary bytes after
// good records: it must open, read to the end without error or panic,
// keep the good records before the damage, and drain its backlog to zero.
func FuzzSpoolSegment(f *testing.F) {
	dir := f.TempDir()
	segmentWith(f, dir, SpoolOptions{}, 0, 3)
	good, err := os.ReadFile(filepathSeg(dir, 1))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{}, false)
	f.Add(good, true)
	f.Add(good[:len(good)/2], false)
	f.Add(append(slices.Clone(good[3:]), good...), true)
	f.Fuzz(func(t *testing.T, tail []byte, older bool) {
		// The good segment is written once, above, and copied: writing
		// it through a spool again on every input would spend most of
		// the run in fsync.
		dir := t.TempDir()
		seg := filepathSeg(dir, 1)
		if err := os.WriteFile(seg, append(slices.Clone(good), tail...), 0o644); err != nil {
			t.Fatal(err)
		}
		if older {
			// A newer segment makes the fuzzed one an older one.
			if err := os.WriteFile(filepathSeg(dir, 2), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		sp, err := OpenSpool(SpoolOptions{Dir: dir}, NewSpoolMetrics(nil), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		lines, _ := readAll(t, sp, true)
		if len(lines) < len(wantLines(0, 3)) || !slices.Equal(lines[:len(wantLines(0, 3))], wantLines(0, 3)) {
			t.Fatalf("good records before the damage lost: %v", lines)
		}
		if b, n, _ := sp.Backlog(); b != 0 || n != 0 {
			t.Fatalf("backlog %d bytes %d readings after reading everything", b, n)
		}
	})
}
