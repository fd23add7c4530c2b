package console

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Sessions survive a restart of riskmon (a new Auth on the same file):
// with the user's role of the moment, never for a removed user, not after
// logout or expiry. The file holds no session id.
func TestSessionsSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	hash := func(pw string) string {
		b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	now := t0
	users := []User{{Name: "wang", PasswordHash: hash("pw"), Role: RoleOperator}, {Name: "li", PasswordHash: hash("pw"), Role: RoleOperator},
		{Name: "zhao", PasswordHash: hash("pw"), Role: RoleOperator}, {Name: "chen", PasswordHash: hash("pw"), Role: RoleViewer}}
	// boot is one life of the service: an Auth on the file, behind the API.
	boot := func(users []User) (authFixture, *SessionFile) {
		t.Helper()
		sf, err := OpenSessionFile(path)
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewAuth(AuthOptions{Users: users, SessionTTL: time.Hour, Sessions: sf, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		hub := NewHub(testRegistry(t), HubOptions{})
		t.Cleanup(hub.Close)
		return authFixture{h: Handler(hub, Options{Auth: a, Acker: &fakeAcker{}, Now: func() time.Time { return now }})}, sf
	}
	f, sf := boot(users)
	wang, li, zhao, chen := f.login(t, "wang", "pw"), f.login(t, "li", "pw"), f.login(t, "zhao", "pw"), f.login(t, "chen", "pw")
	if rec := f.do(http.MethodPost, "/api/v1/logout", `{}`, zhao, nil); rec.Code != http.StatusOK && rec.Code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", rec.Code, rec.Body)
	}
	sf.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), wang.cookie.Value) {
		t.Fatal("the session file holds a session id")
	}

	// Restart half an hour later: li was removed, chen became an operator.
	now = t0.Add(30 * time.Minute)
	users[3].Role = RoleOperator
	f, sf = boot([]User{users[0], users[2], users[3]})
	ack := func(s *browserSession) int {
		return f.do(http.MethodPost, "/api/v1/alerts/a1/ack", `{"comment":"x"}`, s, nil).Code
	}
	tests := []struct {
		name string
		s    *browserSession
		want int
	}{
		{"kept session acts", wang, http.StatusOK},
		{"removed user's session is gone", li, http.StatusUnauthorized},
		{"logged-out session stays gone", zhao, http.StatusUnauthorized},
		{"role taken from today's accounts", chen, http.StatusOK},
	}
	for _, tt := range tests {
		if got := ack(tt.s); got != tt.want {
			t.Errorf("%s: ack %d, want %d", tt.name, got, tt.want)
		}
	}
	sf.Close()

	// Past the session's hour: gone after a restart too.
	now = t0.Add(61 * time.Minute)
	f, sf = boot(users)
	defer sf.Close()
	if got := ack(wang); got != http.StatusUnauthorized {
		t.Errorf("expired session: ack %d, want 401", got)
	}
	if left, _ := sf.Sessions(); len(left) != 0 {
		t.Errorf("%d sessions left in the file, want none", len(left))
	}
}
