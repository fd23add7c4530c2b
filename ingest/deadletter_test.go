package ingest

import (
	"bufio"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
