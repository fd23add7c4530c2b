package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// doFrom sends a request from the given client address.
func (f authFixture) doFrom(remote, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = remote
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

// TestAdminNotLockedOut: guessing an account's password from one address,
// or from a spray of them, does not keep its owner out at their own desk.
func TestAdminNotLockedOut(t *testing.T) {
	cases := []struct {
		name      string
		addresses int
		tries     int
	}{
		{"one address", 1, 200},
		{"spray of IPv4 addresses", 60, 2},
		{"spray inside one IPv6 /64", 60, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newAuthFixture(t)
			for a := range tc.addresses {
				remote := fmt.Sprintf("192.0.%d.%d:5000", a/250, a%250+1)
				if strings.Contains(tc.name, "IPv6") {
					remote = fmt.Sprintf("[2001:db8::%x]:5000", a+1)
				}
				for range tc.tries {
					f.doFrom(remote, http.MethodPost, "/api/v1/login", `{"user":"wang","password":"guess"}`)
				}
			}
			if rec := f.doFrom("10.0.0.7:40000", http.MethodPost, "/api/v1/login", `{"user":"wang","password":"op-pass"}`); rec.Code != http.StatusOK {
				t.Fatalf("wang at his own desk after the attack: %d %s", rec.Code, rec.Body)
			}
			if strings.Contains(tc.name, "IPv6") {
				// The /64 counts as one client: the spray is limited.
				rec := f.doFrom("[2001:db8::ffff]:1", http.MethodPost, "/api/v1/login", `{"user":"li","password":"view-pass"}`)
				if rec.Code != http.StatusTooManyRequests {
					t.Fatalf("another address of the same /64: %d, want 429", rec.Code)
				}
			}
		})
	}
}

// TestLoginFloodBoundedJournal: a flood of failed logins, from one
// address and from a spray, writes a bounded journal: a budget of single
// records, then at most one summary a minute, which still counts every
// attempt. Before, every attempt was a record (9.3 MB in 5 s).
func TestLoginFloodBoundedJournal(t *testing.T) {
	f := newAuthFixture(t)
	start := *f.now
	const attempts = 6000
	for i := range attempts {
		// 100 attempts a second for a minute, from one address and from
		// a spray of 20 others.
		*f.now = start.Add(time.Duration(i) * 10 * time.Millisecond)
		remote := "10.9.9.9:1"
		if i%2 == 1 {
			remote = fmt.Sprintf("198.51.100.%d:1", i%10+1)
			if i%4 == 1 {
				remote = fmt.Sprintf("203.0.113.%d:1", i%10+1)
			}
		}
		f.doFrom(remote, http.MethodPost, "/api/v1/login", `{"user":"admin","password":"guess"}`)
	}
	*f.now = start.Add(2 * time.Minute)
	f.auth.FlushFailed()
	var single, counted, bytes int
	for _, r := range *f.audit {
		b, _ := json.Marshal(r)
		bytes += len(b)
		switch r.Action {
		case "login_failed":
			single++
			counted++
		case "login_failed_summary":
			counted += r.Count
			if len(r.Addresses) > maxSummaryList || len(r.Users) > maxSummaryList {
				t.Fatalf("summary lists not capped: %d addresses, %d users", len(r.Addresses), len(r.Users))
			}
		default:
			t.Fatalf("unexpected record %+v", r)
		}
	}
	records := len(*f.audit)
	t.Logf("%d attempts over 60 s: %d records (%d single), %d bytes", attempts, records, single, bytes)
	if counted != attempts {
		t.Fatalf("the records count %d attempts, want %d", counted, attempts)
	}
	// Budget: failBurst at once plus one a minute, and one summary a
	// minute plus the final flush.
	if single > failBurst+2 || records > failBurst+2+3 {
		t.Fatalf("%d records (%d single) for one minute of flooding, want at most %d", records, single, failBurst+5)
	}
}

// TestLimiterTableBound: the limiter table stays within its bound under a
// spray of addresses, and the limit still holds for an address that is
// not sprayed.
func TestLimiterTableBound(t *testing.T) {
	b, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	const bound = 40
	a, err := NewAuth(AuthOptions{Users: []User{{Name: "li", PasswordHash: string(b), Role: RoleViewer}},
		MaxLimiters: bound, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	most := 0
	for i := range 400 {
		now = now.Add(time.Millisecond) // all busy: none is idle long enough to go
		_, _ = a.Login("li", "wrong", fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256))
		a.mu.Lock()
		most = max(most, len(a.limiters))
		a.mu.Unlock()
	}
	if most > bound {
		t.Fatalf("limiter table grew to %d, bound %d", most, bound)
	}
}

// TestStreamEndsAtLogout: logging out ends the session's event streams at
// once, not at the session's expiry.
func TestStreamEndsAtLogout(t *testing.T) {
	f := newAuthFixture(t) // sessions last an hour
	s := f.login(t, "li", "view-pass")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/v1/stream", nil)
	req.AddCookie(s.cookie)
	var wg sync.WaitGroup
	wg.Add(1)
	rec := httptest.NewRecorder()
	ended := make(chan struct{})
	go func() { defer wg.Done(); f.h.ServeHTTP(rec, req); close(ended) }()
	// Wait until the stream is registered under the session.
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := f.auth
		a.mu.Lock()
		n := len(a.streams)
		a.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stream never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if rec := f.do(http.MethodPost, "/api/v1/logout", "", s, nil); rec.Code != http.StatusNoContent {
		t.Fatalf("logout: %d", rec.Code)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		cancel()
		wg.Wait()
		t.Fatal("the event stream kept streaming after logout")
	}
}
