package journal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// write makes a journal with a few alarm and action records and returns
// its directory and its one segment file.
func write(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	c := &clock{t0}
	j, err := Open(Options{Dir: dir, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		c.now = t0.Add(time.Duration(i) * time.Minute)
		j.Emit(alerting.Event{AlertID: "a1", Rule: "gas_high", Site: "plant-a", Sensor: "gas-1",
			Type: alerting.EventFired, Level: sensors.LevelRed, Value: float64(30 + i), At: t0.Add(time.Duration(i) * time.Minute)})
	}
	j.Action(t0.Add(6*time.Minute), map[string]string{"action": "ack", "user": "wang", "alert_id": "a1"})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := Segments(dir)
	if err != nil || len(segs) != 1 {
		t.Fatalf("segments: %v %v", segs, err)
	}
	return dir, segs[0]
}

func lines(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
}

func rewrite(t *testing.T, path string, ls [][]byte) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Join(ls, nil), 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyIntact(t *testing.T) {
	dir, file := write(t)
	for _, p := range []string{dir, file} {
		sum, err := Verify(p)
		if err != nil {
			t.Fatalf("Verify(%s): %v", p, err)
		}
		if sum.Records != 7 || sum.Anchor != "" || sum.Last != 7 {
			t.Fatalf("summary %+v", sum)
		}
	}
}

// TestVerifyTamper: every kind of tampering is found, at the right line.
func TestVerifyTamper(t *testing.T) {
	cases := []struct {
		name   string
		tamper func([][]byte) [][]byte
		line   int
		reason string
	}{
		{"edit a field", func(ls [][]byte) [][]byte {
			ls[2] = bytes.Replace(ls[2], []byte(`"value":31`), []byte(`"value":11`), 1)
			return ls
		}, 3, "edited"},
		{"edit the hash too", func(ls [][]byte) [][]byte {
			// Whoever edits a record and recomputes its hash still breaks
			// the next record's prev.
			body := bytes.Replace(ls[2], []byte(`"value":31`), []byte(`"value":11`), 1)
			body = body[:bytes.LastIndex(body, []byte(`,"hash":`))]
			line, _ := seal(append(body, '}'), nil)
			ls[2] = line
			return ls
		}, 4, "prev hash"},
		{"delete a line", func(ls [][]byte) [][]byte { return append(ls[:3], ls[4:]...) }, 4, "prev hash"},
		{"insert a line", func(ls [][]byte) [][]byte {
			return append(ls[:3], append([][]byte{ls[1]}, ls[3:]...)...)
		}, 4, "prev hash"},
		{"reorder", func(ls [][]byte) [][]byte { ls[2], ls[3] = ls[3], ls[2]; return ls }, 3, "prev hash"},
		{"damage a line inside", func(ls [][]byte) [][]byte {
			ls[3] = append(ls[3][:len(ls[3])/2], '\n')
			return ls
		}, 4, "cut short"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, file := write(t)
			rewrite(t, file, tc.tamper(lines(t, file)))
			_, err := Verify(file)
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("want a *Problem, got %v", err)
			}
			if p.Line != tc.line || !strings.Contains(p.Reason, tc.reason) {
				t.Fatalf("got %v, want line %d with %q", p, tc.line, tc.reason)
			}
		})
	}
}

// TestRetention: old segments are dropped, and the rest still verifies
// from the anchor the dropped part left in the next segment's header.
func TestRetention(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t0}
	j, err := Open(Options{Dir: dir, Now: c.Now, Segment: time.Hour, Retention: 3 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for h := range 10 {
		c.now = t0.Add(time.Duration(h) * time.Hour)
		j.Emit(alerting.Event{AlertID: "a", Type: alerting.EventFired, At: c.now})
		// Retention judges a segment by its file's modification time,
		// which the test clock does not set.
		segs, _ := Segments(dir)
		_ = os.Chtimes(segs[len(segs)-1], c.now, c.now)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := Segments(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) >= 10 || len(segs) < 3 {
		t.Fatalf("kept %d segments, want the last few", len(segs))
	}
	sum, err := Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Anchor == "" {
		t.Fatal("no anchor after dropping segments")
	}
	// Deleting a segment in the middle is found at the next one's header.
	if err := os.Remove(segs[1]); err != nil {
		t.Fatal(err)
	}
	_, err = Verify(dir)
	var p *Problem
	if !errors.As(err, &p) || p.File != segs[2] || p.Line != 1 {
		t.Fatalf("removed middle segment: got %v", err)
	}
}

// TestReopen continues the chain across a restart.
func TestReopen(t *testing.T) {
	dir, _ := write(t)
	j, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	j.Action(time.Time{}, map[string]string{"action": "login", "user": "li"})
	seq, _ := j.Head()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	sum, err := Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 2 || sum.Last != seq || seq != 9 {
		t.Fatalf("summary %+v, head %d", sum, seq)
	}
}

func TestExport(t *testing.T) {
	dir, _ := write(t)
	var out bytes.Buffer
	err := Export(dir, t0.Add(3*time.Minute), func(l []byte) error { out.Write(l); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(out.Bytes(), []byte("\n")); n != 3 {
		t.Fatalf("exported %d records, want 3:\n%s", n, out.String())
	}
	f := filepath.Join(t.TempDir(), "x.jsonl")
	if err := os.WriteFile(f, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(f); err != nil {
		t.Fatalf("excerpt does not verify: %v", err)
	}
}
