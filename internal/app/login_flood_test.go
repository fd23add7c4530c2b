package app

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/riskmon/riskmon/internal/config"
)

// TestLoginFloodJournalSize: thousands of failed logins from one client
// leave the journal on disk a few kilobytes larger, not megabytes (one
// connection wrote 9.3 MB in 5 s), and admin still logs in from another
// address.
func TestLoginFloodJournalSize(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("admin-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	svc, cfg := quietServiceConfig(t, func(c *config.Config) {
		c.HTTP.Users = []config.User{{Name: "admin", PasswordHash: string(hash), Role: "admin"}}
	})
	h := svc.Handler()
	login := func(remote, pw string) int {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/login", strings.NewReader(`{"user":"admin","password":"`+pw+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	const attempts = 20000
	for range attempts {
		login("203.0.113.9:4000", "guess")
	}
	if code := login("10.0.0.7:5000", "admin-pass"); code != http.StatusOK {
		t.Fatalf("admin from the control room after the flood: %d", code)
	}
	// Closing records the failed logins not yet recorded.
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	var size int64
	segs, err := filepath.Glob(filepath.Join(cfg.StatePath(cfg.Journal.Dir), "journal-*"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("journal segments: %v %v", segs, err)
	}
	for _, s := range segs {
		fi, err := os.Stat(s)
		if err != nil {
			t.Fatal(err)
		}
		size += fi.Size()
	}
	t.Logf("%d failed logins: journal %d bytes", attempts, size)
	if size > 16<<10 {
		t.Fatalf("journal grew to %d bytes for %d failed logins", size, attempts)
	}
}
