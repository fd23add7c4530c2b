package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/internal/testenv"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// writeKeyed is write with a key and a second segment: a journal closed
// after two runs, returned with its segments.
func writeKeyed(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	for run := range 2 {
		j, err := Open(Options{Dir: dir, Key: testKey})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			j.Action(time.Time{}, map[string]any{"action": "ack", "user": "wang", "run": run, "i": i})
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	}
	segs, err := Segments(dir)
	if err != nil || len(segs) != 2 {
		t.Fatalf("segments %v %v", segs, err)
	}
	return dir, segs
}

// TestTornTail: an empty newest segment, a cut last record and a file cut
// inside its header are each a torn tail: Verify says so without calling
// it tampering, Open starts past it (it failed with "file exists"
// before), the new header declares it, and the whole journal verifies
// again with the key.
func TestTornTail(t *testing.T) {
	cases := []struct {
		name string
		cut  func(t *testing.T, dir string, segs []string) Torn
	}{
		{"empty newest segment", func(t *testing.T, dir string, segs []string) Torn {
			// A crash between creating the next segment and writing its
			// header; named as Open names it.
			seq, _ := lastSeq(t, dir)
			name := filepath.Join(dir, fmt.Sprintf("%s%020d%s", filePrefix, seq+1, fileSuffix))
			if err := os.WriteFile(name, nil, 0o640); err != nil {
				t.Fatal(err)
			}
			return Torn{File: filepath.Base(name) + tornSuffix}
		}},
		{"cut record", func(t *testing.T, dir string, segs []string) Torn {
			data := read(t, segs[1])
			last := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
			cut := last + (len(data)-last)/2
			write1(t, segs[1], data[:cut])
			return Torn{File: filepath.Base(segs[1]), Offset: int64(last), Bytes: int64(cut - last)}
		}},
		{"file cut inside its header", func(t *testing.T, dir string, segs []string) Torn {
			write1(t, segs[1], read(t, segs[1])[:40])
			return Torn{File: filepath.Base(segs[1]) + tornSuffix, Bytes: 40}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, segs := writeKeyed(t)
			want := tc.cut(t, dir, segs)

			sum, err := VerifyWith(dir, VerifyOptions{Key: testKey})
			if err != nil {
				t.Fatalf("a torn tail is not tampering, but verify says: %v", err)
			}
			if sum.Pending == nil {
				t.Fatalf("verify does not report the torn tail: %+v", sum)
			}

			reg := prometheus.NewRegistry()
			j, err := Open(Options{Dir: dir, Key: testKey, Registerer: reg})
			if err != nil {
				t.Fatalf("open past a torn tail: %v", err)
			}
			j.Action(time.Time{}, map[string]string{"action": "ack", "user": "li"})
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			if got := testutil.ToFloat64(j.m.torn); got != 1 {
				t.Fatalf("torn tails counted: %v, want 1", got)
			}
			// The service raises its alert from what Open found.
			if got := j.TornAtOpen(); len(got) != 1 || got[0] != want {
				t.Fatalf("TornAtOpen %+v, want %+v", got, want)
			}
			sum, err = VerifyWith(dir, VerifyOptions{Key: testKey})
			if err != nil {
				t.Fatalf("verify after the restart: %v", err)
			}
			if sum.Pending != nil || len(sum.Torn) != 1 || sum.Torn[0] != want {
				t.Fatalf("torn tails %+v (pending %+v), want declared %+v", sum.Torn, sum.Pending, want)
			}
			// And a second restart does not declare it again.
			j, err = Open(Options{Dir: dir, Key: testKey})
			if err != nil {
				t.Fatal(err)
			}
			_ = j.Close()
			if got := j.TornAtOpen(); len(got) != 0 {
				t.Errorf("the second restart found torn tails %+v again", got)
			}
			if sum, err = VerifyWith(dir, VerifyOptions{Key: testKey}); err != nil || len(sum.Torn) != 1 {
				t.Fatalf("second restart: %+v %v", sum.Torn, err)
			}
		})
	}
}

// TestTornTailCutFurther: bytes cut off a segment after its torn tail was
// declared no longer match the declaration, and verify says so.
func TestTornTailCutFurther(t *testing.T) {
	dir, segs := writeKeyed(t)
	data := read(t, segs[1])
	write1(t, segs[1], data[:len(data)-7])
	j, err := Open(Options{Dir: dir, Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	_ = j.Close()
	if _, err := VerifyWith(dir, VerifyOptions{Key: testKey}); err != nil {
		t.Fatal(err)
	}
	write1(t, segs[1], data[:len(data)-30])
	_, err = VerifyWith(dir, VerifyOptions{Key: testKey})
	var p *Problem
	if !errors.As(err, &p) || p.File != segs[1] || !strings.Contains(p.Reason, "no later segment declares") {
		t.Fatalf("want a cut not declared in %s, got %v", segs[1], err)
	}
}

// reseal rewrites a segment as someone without the key would: the record
// at edit gets another user, every prev and hash is recomputed from
// prev, and each record is sealed with key (nil: no MAC). It returns the
// last hash.
func reseal(t *testing.T, path, prev string, edit int, key []byte) string {
	t.Helper()
	ls := lines(t, path)
	for i := range ls {
		r, err := check(bytes.TrimSuffix(ls[i], []byte("\n")))
		if err != nil {
			t.Fatal(err)
		}
		if i == edit {
			r.Data = bytes.Replace(r.Data, []byte(`"user":"wang"`), []byte(`"user":"zhao"`), 1)
		}
		if i > 0 || prev != "" {
			r.Prev = prev
		}
		r.Hash, r.MAC = "", ""
		body, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		ls[i], prev = seal(body, key)
	}
	rewrite(t, path, ls)
	return prev
}

// TestRewriteDetectedWithKey: editing a record and recomputing every later
// hash passes the bare chain check, which is why the key exists; with the
// key the rewrite is found, however it was resealed.
func TestRewriteDetectedWithKey(t *testing.T) {
	t.Run("first segment rewritten without MACs", func(t *testing.T) {
		dir, segs := writeKeyed(t)
		reseal(t, segs[0], "", 2, nil)
		if _, err := Verify(segs[0]); err != nil {
			t.Fatalf("the chain alone should not see a consistent rewrite, got %v", err)
		}
		// The next segment's header is keyed and names the old hash.
		_, err := VerifyWith(dir, VerifyOptions{Key: testKey})
		var p *Problem
		if !errors.As(err, &p) || p.File != segs[1] || p.Line != 1 {
			t.Fatalf("with the key: got %v, want %s:1", err, segs[1])
		}
	})
	t.Run("whole journal rewritten without MACs", func(t *testing.T) {
		dir, segs := writeKeyed(t)
		last := reseal(t, segs[0], "", 2, nil)
		reseal(t, segs[1], last, -1, nil)
		if _, err := Verify(dir); err != nil {
			t.Fatalf("the chain alone should not see a consistent rewrite, got %v", err)
		}
		_, err := VerifyWith(dir, VerifyOptions{Key: testKey})
		var p *Problem
		if !errors.As(err, &p) || !strings.Contains(p.Reason, "no record carries a MAC") {
			t.Fatalf("with the key: got %v, want no MAC at all", err)
		}
	})
	t.Run("MACs stripped from the last segment", func(t *testing.T) {
		dir, segs := writeKeyed(t)
		sum, _ := Verify(segs[0])
		reseal(t, segs[1], sum.LastHash, 2, nil)
		_, err := VerifyWith(dir, VerifyOptions{Key: testKey})
		var p *Problem
		if !errors.As(err, &p) || p.File != segs[1] || !strings.Contains(p.Reason, "no MAC after records that have one") {
			t.Fatalf("with the key: got %v", err)
		}
	})
	t.Run("resealed with a guessed key", func(t *testing.T) {
		dir, segs := writeKeyed(t)
		last := reseal(t, segs[0], "", 2, []byte("not the journal key at all"))
		reseal(t, segs[1], last, -1, []byte("not the journal key at all"))
		_, err := VerifyWith(dir, VerifyOptions{Key: testKey})
		var p *Problem
		if !errors.As(err, &p) || p.Line != 1 || !strings.Contains(p.Reason, "MAC does not match") {
			t.Fatalf("resealed with another key: %v", err)
		}
	})
}

// TestUnkeyedBeforeKey: a journal written before it had a key (an
// upgrade) verifies with the key once keyed records follow, since their
// MACs cover the chain back through the older records.
func TestUnkeyedBeforeKey(t *testing.T) {
	dir := t.TempDir()
	for _, key := range [][]byte{nil, testKey} {
		j, err := Open(Options{Dir: dir, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		j.Action(time.Time{}, map[string]string{"action": "ack", "user": "wang"})
		_ = j.Close()
	}
	sum, err := VerifyWith(dir, VerifyOptions{Key: testKey})
	if err != nil || sum.Unkeyed != 2 || sum.Records != 4 {
		t.Fatalf("upgrade: %+v %v", sum, err)
	}
	// An edit in the unkeyed part, rehashed through it, still breaks the
	// first keyed record.
	segs, _ := Segments(dir)
	reseal(t, segs[0], "", 1, nil)
	if _, err := VerifyWith(dir, VerifyOptions{Key: testKey}); err == nil {
		t.Fatal("an edit before the key went unseen")
	}
}

// TestDroppedTailNeedsHead: records removed cleanly from the end leave a
// valid chain; the published head shows the loss.
func TestDroppedTailNeedsHead(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	j, err := Open(Options{Dir: dir, Key: testKey, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		j.Action(time.Time{}, map[string]int{"i": i})
	}
	_ = j.Close()
	seq, hash := j.Head()
	published := fmt.Sprintf("%d:%s", seq, hash)
	if n, err := testutil.GatherAndCount(reg, "riskmon_journal_head_info"); err != nil || n != 1 {
		t.Fatalf("head series: %d %v", n, err)
	}
	if got := testutil.ToFloat64(j.m.head.WithLabelValues(fmt.Sprint(seq), hash)); got != 1 {
		t.Fatalf("head not published in the metrics")
	}
	if sum, err := VerifyWith(dir, VerifyOptions{Key: testKey, ExpectHead: published}); err != nil || !sum.HeadFound {
		t.Fatalf("intact journal with its head: %v", err)
	}
	segs, _ := Segments(dir)
	ls := lines(t, segs[0])
	rewrite(t, segs[0], ls[:len(ls)-2])
	if _, err := VerifyWith(dir, VerifyOptions{Key: testKey}); err != nil {
		t.Fatalf("without a head the cut cannot be seen: %v", err)
	}
	if _, err := VerifyWith(dir, VerifyOptions{Key: testKey, ExpectHead: published}); !errors.Is(err, ErrHeadMissing) {
		t.Fatalf("records dropped off the end: got %v, want ErrHeadMissing", err)
	}
}

// TestFullDisk: records that meet a full disk are counted, leave no
// partial line, and are reported in a lost record once space is back;
// the journal verifies with its key (it looked tampered for ever
// before) and opens again.
func TestFullDisk(t *testing.T) {
	dir := testenv.SmallFS(t, 64<<10)
	jdir := filepath.Join(dir, "journal")
	j, err := Open(Options{Dir: jdir, Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	big := strings.Repeat("火", 300)
	for i := range 20 {
		j.Emit(alerting.Event{AlertID: fmt.Sprint("a", i), Rule: "gas_high", Message: big, At: t0})
	}
	if j.Failures() == 0 {
		t.Fatal("no write failed on a full filesystem")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	j.Action(time.Time{}, map[string]string{"action": "ack", "user": "li"})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	sum, err := VerifyWith(jdir, VerifyOptions{Key: testKey})
	if err != nil {
		t.Fatalf("after a full disk: %v", err)
	}
	if sum.Lost != j.Failures() || sum.Pending != nil {
		t.Fatalf("lost %d, failures %d, pending %+v", sum.Lost, j.Failures(), sum.Pending)
	}
	j, err = Open(Options{Dir: jdir, Key: testKey})
	if err != nil {
		t.Fatalf("reopen after a full disk: %v", err)
	}
	_ = j.Close()
	if _, err := VerifyWith(jdir, VerifyOptions{Key: testKey}); err != nil {
		t.Fatal(err)
	}
}

// TestOpenOnFullDisk: a journal opened on a full disk does not stop the
// start; its records are counted as lost and it starts its segment once
// there is room.
func TestOpenOnFullDisk(t *testing.T) {
	dir := testenv.SmallFS(t, 64<<10)
	jdir := filepath.Join(dir, "journal")
	if err := os.Mkdir(jdir, 0o750); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	j, err := Open(Options{Dir: jdir, Key: testKey})
	if err != nil {
		t.Fatalf("open on a full disk: %v", err)
	}
	j.Action(time.Time{}, map[string]string{"action": "ack", "user": "wang"})
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	j.Action(time.Time{}, map[string]string{"action": "ack", "user": "li"})
	_ = j.Close()
	sum, err := VerifyWith(jdir, VerifyOptions{Key: testKey})
	if err != nil || sum.Lost != 1 || sum.Records != 3 {
		t.Fatalf("after the disk had room again: %+v %v", sum, err)
	}
}

// fill writes to path until the filesystem is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 512)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill: %v", err)
			}
			return
		}
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func write1(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
}

func lastSeq(t *testing.T, dir string) (uint64, string) {
	t.Helper()
	sum, err := Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	return sum.Last, sum.LastHash
}
