package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/journal"
)

func TestJournalVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(journal.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"wang", "li", "zhang"} {
		j.Action(time.Now(), map[string]string{"action": "login", "user": u})
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "journal", "verify", dir)
	if err != nil || !strings.Contains(out, "ok: 4 records") {
		t.Fatalf("verify intact: %v\n%s", err, out)
	}
	if out, err := run(t, "journal", "export", "--since", "2000-01-01T00:00:00Z", dir); err != nil || strings.Count(out, "\n") != 4 {
		t.Fatalf("export: %v\n%s", err, out)
	}
	segs, _ := journal.Segments(dir)
	data, _ := os.ReadFile(segs[0])
	if err := os.WriteFile(segs[0], bytes.Replace(data, []byte(`"user":"li"`), []byte(`"user":"lu"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "journal", "verify", dir)
	if err == nil || !strings.Contains(err.Error(), segs[0]+":3:") {
		t.Fatalf("verify edited: want the bad line %s:3, got %v", segs[0], err)
	}
}

func TestUserHash(t *testing.T) {
	var out bytes.Buffer
	root := newRoot()
	root.SetOut(&out)
	root.SetIn(strings.NewReader("s3cret\n"))
	root.SetArgs([]string{"user", "hash"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "$2a$10$") {
		t.Fatalf("hash %q", out.String())
	}
}

// TestJournalVerifyKeyAndHead: in the service's layout (state/journal with
// state/journal.key beside it) verify checks the MACs by itself, lists a
// torn tail without failing, and fails on --expect-head once the last
// records are gone.
func TestJournalVerifyKeyAndHead(t *testing.T) {
	state := t.TempDir()
	dir := filepath.Join(state, "journal")
	key, err := journal.LoadKey(filepath.Join(state, "journal.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(journal.Options{Dir: dir, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"wang", "li", "zhang"} {
		j.Action(time.Now(), map[string]string{"action": "login", "user": u})
	}
	_ = j.Close()
	seq, hash := j.Head()
	head := fmt.Sprintf("%d:%s", seq, hash)
	out, err := run(t, "journal", "verify", "--expect-head", head, dir)
	if err != nil || !strings.Contains(out, "MAC matches") || !strings.Contains(out, "expected head") {
		t.Fatalf("intact: %v\n%s", err, out)
	}
	segs, _ := journal.Segments(dir)
	data, _ := os.ReadFile(segs[0])
	cut := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
	if err := os.WriteFile(segs[0], data[:cut+20], 0o640); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "journal", "verify", dir)
	if err != nil || !strings.Contains(out, "torn tail at the end of the newest segment") {
		t.Fatalf("torn tail: %v\n%s", err, out)
	}
	if _, err := run(t, "journal", "verify", "--expect-head", head, dir); err == nil || !strings.Contains(err.Error(), "not in the journal") {
		t.Fatalf("last record gone: want the head missing, got %v", err)
	}
}
