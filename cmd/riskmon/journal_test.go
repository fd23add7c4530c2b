package main

import (
	"bytes"
	"os"
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
