package ingest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestDeadLetterFileRotationAndRing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dl.jsonl")
	dl, err := OpenDeadLetter(DeadLetterOptions{Path: path, MaxBytes: 600, Recent: 3, MaxPayload: 8})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		e := DeadLetterEntry{Time: time.Unix(int64(i), 0).UTC(), Topic: "riskmon/v1/s/g/readings", Reason: ReasonMalformed, Detail: "bad"}
		if err := dl.Add(e, []byte(strings.Repeat("x", 20))); err != nil {
			t.Fatal(err)
		}
	}
	if err := dl.Add(DeadLetterEntry{Reason: ReasonMalformed}, []byte{0xff, 0xfe}); err != nil {
		t.Fatal(err)
	}
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	if dl.Total() != 7 {
		t.Fatalf("total = %d, want 7", dl.Total())
	}
	recent := dl.Recent()
	if len(recent) != 3 || recent[2].PayloadBase64 != "//4=" || recent[0].Time.Unix() != 4 {
		t.Fatalf("recent = %+v", recent)
	}
	lines := 0
	for _, p := range []string{path + ".1", path} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatalf("rotated file missing: %v", err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var e DeadLetterEntry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			if e.Payload != "" && (len(e.Payload) != 8 || !e.Truncated) {
				t.Fatalf("payload %q not truncated to 8 bytes", e.Payload)
			}
			lines++
		}
		f.Close()
	}
	// Rotation keeps one old file: the newest entries survive.
	if lines < 3 || lines > 7 {
		t.Fatalf("%d lines across the files", lines)
	}
	rec := httptest.NewRecorder()
	dl.ServeHTTP(rec, httptest.NewRequest("GET", "/api/deadletter", nil))
	if !strings.Contains(rec.Body.String(), `"total": 7`) {
		t.Fatalf("HTTP view: %s", rec.Body.String())
	}
}

// TestDeadLetterOneEntryPerMessage: a message with several bad readings
// is parked once, listing each (index, sensor, reason); a time-check
// rejection in line protocol names its entry; the valid readings flow.
func TestDeadLetterOneEntryPerMessage(t *testing.T) {
	m := NewMetrics(nil)
	dl, _ := OpenDeadLetter(DeadLetterOptions{})
	p := NewProcessor(testRegistry(t), Limits{}, NewRejecter(m, dl, slog.New(slog.DiscardHandler), time.Minute), m, nil)
	now := time.UnixMilli(1764345600000)
	json := `{"ts":1764345600000,"readings":[{"sensor":"GT-101","value":1},{"sensor":"NOPE","value":1},` +
		`{"sensor":"PT-201","value":"x"},{"sensor":"H2S-501","value":2},{"sensor":"GT-101","value":1e9}]}`
	out := p.Process("riskmon/v1/hz-01/gw-1/readings", []byte(json), now)
	if len(out.Readings) != 2 {
		t.Fatalf("%d readings accepted, want 2", len(out.Readings))
	}
	lp := "reading,sensor=GT-101 value=1 1764345600000000000\n" +
		"reading,sensor=GT-101 value=2 1864345600000000000\n" // far in the future
	p.Process("riskmon/v1/hz-01/gw-1/lp", []byte(lp), now)
	p.Process("riskmon/v1/hz-01/gw-1/readings", []byte(`{not json`), now)
	got := dl.Recent()
	if len(got) != 3 || dl.Total() != 3 {
		t.Fatalf("%d entries (total %d), want 3: one per message", len(got), dl.Total())
	}
	e := got[0]
	want := []RejectedReading{{Index: 1, Sensor: "NOPE", Reason: ReasonUnknownSensor}, {Index: 2, Sensor: "PT-201", Reason: ReasonBadValue}, {Index: 4, Sensor: "GT-101", Reason: ReasonOutOfRange}}
	if len(e.Rejected) != len(want) || e.Gateway != "hz-01/gw-1" || e.Payload != json || e.Reason != ReasonUnknownSensor {
		t.Fatalf("entry %+v, want the whole payload once and 3 rejected readings", e)
	}
	for i, w := range want {
		if r := e.Rejected[i]; r.Index != w.Index || r.Sensor != w.Sensor || r.Reason != w.Reason || r.Detail == "" {
			t.Errorf("rejected[%d] = %+v, want %+v with a detail", i, r, w)
		}
	}
	if lpE := got[1]; len(lpE.Rejected) != 1 || lpE.Rejected[0].Reason != ReasonFuture || lpE.Rejected[0].Index != 1 ||
		!strings.HasPrefix(lpE.Detail, "line protocol entry 2: ") {
		t.Errorf("line protocol entry: %+v, want future_timestamp of entry 2 named in the detail", lpE)
	}
	if w := got[2]; w.Reason != ReasonMalformed || len(w.Rejected) != 0 {
		t.Errorf("whole-message rejection: %+v", w)
	}
	if c := testutil.ToFloat64(m.Rejected(ReasonUnknownSensor)); c != 1 {
		t.Errorf("unknown_sensor counted %v times, want 1", c)
	}
}

// TestDeadLetterGatewayCapAndAge: a gateway flooding bad messages is
// capped at its budget while another gateway's entries are all kept; the
// file rotates by age too, keeping Keep old files.
func TestDeadLetterGatewayCapAndAge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dl.jsonl")
	dl, err := OpenDeadLetter(DeadLetterOptions{Path: path, GatewayBytes: 5000, GatewayWindow: time.Hour, MaxAge: time.Hour, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1764345600, 0).UTC()
	add := func(gw string, at time.Time) {
		t.Helper()
		e := DeadLetterEntry{Time: at, Topic: "riskmon/v1/hz-01/" + gw + "/readings", Gateway: "hz-01/" + gw, Reason: ReasonMalformed, Detail: "bad"}
		if err := dl.Add(e, []byte(strings.Repeat("x", 200))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		add("noisy", t0.Add(time.Duration(i)*time.Second))
		if i%10 == 0 {
			add("quiet", t0.Add(time.Duration(i)*time.Second))
		}
	}
	byGW := map[string]int{}
	for _, e := range readEntries(t, path) {
		byGW[e.Gateway]++
	}
	if byGW["hz-01/quiet"] != 10 || byGW["hz-01/noisy"] == 0 || byGW["hz-01/noisy"] > 14 {
		t.Fatalf("kept %v, want all 10 of quiet and at most 5000 bytes of noisy", byGW)
	}
	if dl.Dropped() != int64(100-byGW["hz-01/noisy"]) {
		t.Errorf("dropped %d, want %d", dl.Dropped(), 100-byGW["hz-01/noisy"])
	}
	rec := httptest.NewRecorder()
	dl.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/deadletter?gateway=hz-01/quiet", nil))
	var view struct {
		Capped map[string]int64
		Recent []DeadLetterEntry
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &view); err != nil {
		t.Fatal(err)
	}
	if len(view.Recent) != 10 || view.Capped["hz-01/noisy"] == 0 || view.Capped["hz-01/quiet"] != 0 {
		t.Errorf("HTTP view: %d recent of quiet, capped %v", len(view.Recent), view.Capped)
	}
	// Three hours later, each hour a new file; two old ones are kept.
	for h := 1; h <= 3; h++ {
		add("quiet", t0.Add(time.Duration(h)*time.Hour+time.Minute))
	}
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + ".1", path + ".2"} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := os.Stat(path + ".3"); err == nil {
		t.Error("a third rotated file was kept, want 2")
	}
	if n := len(readEntries(t, path)); n != 1 {
		t.Errorf("current file has %d entries, want the last hour's 1", n)
	}
}

func readEntries(t *testing.T, path string) []DeadLetterEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []DeadLetterEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e DeadLetterEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// TestDeadLetterBigMessageCost: a 94 KB line-protocol message whose every
// line names an unknown sensor costs one entry — its payload cut at 16 KiB
// and 100 listed readings — not a copy of the message per line.
func TestDeadLetterBigMessageCost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dl.jsonl")
	m := NewMetrics(nil)
	dl, err := OpenDeadLetter(DeadLetterOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	p := NewProcessor(testRegistry(t), Limits{}, NewRejecter(m, dl, slog.New(slog.DiscardHandler), time.Minute), m, nil)
	now := time.UnixMilli(1764345600000)
	var b strings.Builder
	lines := 0
	for ; b.Len() < 94_000; lines++ {
		fmt.Fprintf(&b, "reading,sensor=UNKNOWN-%04d value=%d.5 %d\n", lines, lines, now.Add(time.Duration(lines)*time.Millisecond).UnixNano())
	}
	p.Process("riskmon/v1/hz-01/gw-1/lp", []byte(b.String()), now)
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	es := readEntries(t, path)
	t.Logf("one %d-byte line-protocol message of %d unknown sensors: %d entry, %d bytes of dead letters", b.Len(), lines, len(es), st.Size())
	if len(es) != 1 || len(es[0].Rejected)+es[0].RejectedMore != lines || st.Size() > 64<<10 {
		t.Fatalf("%d entries, %d bytes, listing %d+%d readings; want one entry under 64 KiB accounting for all %d lines",
			len(es), st.Size(), len(es[0].Rejected), es[0].RejectedMore, lines)
	}
}

// TestRejectedSensorOutlivesItsMessage: the decoder lends sensor ids from
// a buffer that the next message overwrites, so a parked rejection must
// hold its own copy. Two messages of the same shape put their unknown ids
// at the same offsets; the first must still read as it arrived.
func TestRejectedSensorOutlivesItsMessage(t *testing.T) {
	m := NewMetrics(nil)
	dl, _ := OpenDeadLetter(DeadLetterOptions{})
	p := NewProcessor(testRegistry(t), Limits{}, NewRejecter(m, dl, slog.New(slog.DiscardHandler), time.Minute), m, nil)
	now := time.UnixMilli(1764345600000)
	for _, id := range []string{"GHOST-AAA", "GHOST-BBB"} {
		msg := `{"ts":1764345600000,"readings":[{"sensor":"` + id + `","value":1}]}`
		p.Process("riskmon/v1/hz-01/gw-1/readings", []byte(msg), now)
	}
	got := dl.Recent()
	if len(got) != 2 {
		t.Fatalf("%d entries, want 2", len(got))
	}
	seen := map[string]bool{}
	for _, e := range got {
		if len(e.Rejected) != 1 {
			t.Fatalf("entry %+v, want one rejected reading", e)
		}
		seen[e.Rejected[0].Sensor] = true
		if e.Sensor != e.Rejected[0].Sensor {
			t.Errorf("entry names sensor %q, its reading %q", e.Sensor, e.Rejected[0].Sensor)
		}
	}
	if !seen["GHOST-AAA"] || !seen["GHOST-BBB"] {
		t.Fatalf("parked sensors %v, want GHOST-AAA and GHOST-BBB", seen)
	}
}
