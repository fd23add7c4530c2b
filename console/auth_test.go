package console

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/lifecycle"
)

// fakeAcker records acknowledgements.
type fakeAcker struct {
	mu   sync.Mutex
	acks []string // "id by user: comment"
}

func (f *fakeAcker) Ack(id, user, comment string) (alerting.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != "a1" {
		return alerting.Record{}, lifecycle.ErrNoAlert
	}
	f.acks = append(f.acks, id+" by "+user+": "+comment)
	return alerting.Record{ID: id, State: alerting.StateActiveAcked, AckedBy: user, Comment: comment}, nil
}

func (f *fakeAcker) Get(id string) (alerting.Record, bool) {
	return alerting.Record{ID: id, State: alerting.StateActiveUnacked}, id == "a1"
}

type authFixture struct {
	h       http.Handler
	acker   *fakeAcker
	shelver *fakeShelver
	now     *time.Time
	audit   *[]AuditRecord
	auth    *Auth
}

func newAuthFixture(t *testing.T) authFixture {
	t.Helper()
	hash := func(pw string) string {
		b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	now := t0
	var mu sync.Mutex
	var audit []AuditRecord
	a, err := NewAuth(AuthOptions{
		Users: []User{
			{Name: "wang", PasswordHash: hash("op-pass"), Role: RoleOperator},
			{Name: "li", PasswordHash: hash("view-pass"), Role: RoleViewer},
		},
		Tokens:     []Token{{Name: "scada", Token: "op-token", Role: RoleOperator}, {Name: "wall", Token: "view-token", Role: RoleViewer}},
		SessionTTL: time.Hour,
		Now:        func() time.Time { return now },
		Audit:      func(r AuditRecord) { mu.Lock(); audit = append(audit, r); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	acker := &fakeAcker{}
	hub := NewHub(testRegistry(t), HubOptions{})
	t.Cleanup(hub.Close)
	shelver := newFakeShelver(func() time.Time { return now })
	return authFixture{h: Handler(hub, Options{Auth: a, Acker: acker, Shelver: shelver, Now: func() time.Time { return now }}),
		acker: acker, shelver: shelver, now: &now, audit: &audit, auth: a}
}

// browserSession is a logged-in browser: its cookie and CSRF token.
type browserSession struct {
	cookie *http.Cookie
	csrf   string
}

func (f authFixture) do(method, path, body string, s *browserSession, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "10.0.0.7:40000"
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if s != nil {
		req.AddCookie(s.cookie)
		if s.csrf != "" {
			req.Header.Set("X-CSRF-Token", s.csrf)
		}
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func (f authFixture) login(t *testing.T, user, pw string) *browserSession {
	t.Helper()
	rec := f.do(http.MethodPost, "/api/v1/login", `{"user":"`+user+`","password":"`+pw+`"}`, nil, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("login %s: %d %s", user, rec.Code, rec.Body)
	}
	var body struct{ CSRF string }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.CSRF == "" {
		t.Fatalf("login body %s: %v", rec.Body, err)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
				t.Fatalf("session cookie not HttpOnly/SameSite=Strict: %+v", c)
			}
			return &browserSession{cookie: c, csrf: body.CSRF}
		}
	}
	t.Fatalf("login set no session cookie")
	return nil
}

// TestMutationsNeedOperator: every mutating endpoint refuses anonymous and
// viewer callers, by token and by session.
func TestMutationsNeedOperator(t *testing.T) {
	f := newAuthFixture(t)
	viewer := f.login(t, "li", "view-pass")
	operator := f.login(t, "wang", "op-pass")
	endpoints := []struct{ method, path, body string }{
		{http.MethodPost, "/api/v1/alerts/a1/ack", `{"comment":"x"}`},
		{http.MethodPost, "/api/v1/logout", `{}`},
		{http.MethodPost, "/api/v1/shelves", `{"mode":"shelved","match":{"site":"plant-a"},"reason":"x","duration":"1h"}`},
		{http.MethodDelete, "/api/v1/shelves/s1", ``},
	}
	callers := []struct {
		name   string
		s      *browserSession
		header map[string]string
		code   int
	}{
		{"anonymous", nil, nil, http.StatusUnauthorized},
		{"bad token", nil, map[string]string{"Authorization": "Bearer guess"}, http.StatusUnauthorized},
		{"viewer token", nil, map[string]string{"Authorization": "Bearer view-token"}, http.StatusForbidden},
		{"viewer session", viewer, nil, http.StatusForbidden},
		{"operator session without CSRF", &browserSession{cookie: operator.cookie}, nil, http.StatusForbidden},
		{"operator session with wrong CSRF", &browserSession{cookie: operator.cookie, csrf: viewer.csrf}, nil, http.StatusForbidden},
	}
	for _, ep := range endpoints {
		for _, c := range callers {
			if ep.path == "/api/v1/logout" && strings.HasPrefix(c.name, "viewer") {
				continue // a viewer may log out
			}
			t.Run(ep.method+" "+ep.path+"/"+c.name, func(t *testing.T) {
				rec := f.do(ep.method, ep.path, ep.body, c.s, c.header)
				if rec.Code != c.code {
					t.Fatalf("status %d (%s), want %d", rec.Code, rec.Body, c.code)
				}
			})
		}
	}
	if len(f.acker.acks) != 0 {
		t.Fatalf("refused callers acknowledged: %v", f.acker.acks)
	}
	if calls := f.shelver.calls(); len(calls) != 0 {
		t.Fatalf("refused callers shelved: %v", calls)
	}
	// And the allowed ones get through.
	if rec := f.do(http.MethodPost, "/api/v1/alerts/a1/ack", `{"comment":"valve shut"}`, operator, nil); rec.Code != http.StatusOK {
		t.Fatalf("operator session ack: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(http.MethodPost, "/api/v1/alerts/a1/ack", ``, nil, map[string]string{"Authorization": "Bearer op-token"}); rec.Code != http.StatusOK {
		t.Fatalf("operator token ack: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(http.MethodPost, "/api/v1/alerts/zz/ack", ``, operator, nil); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown alert: %d", rec.Code)
	}
	want := []string{"a1 by wang: valve shut", "a1 by scada: "}
	if strings.Join(f.acker.acks, "|") != strings.Join(want, "|") {
		t.Fatalf("acks %q, want %q", f.acker.acks, want)
	}
	// A viewer session may log out with its CSRF token.
	if rec := f.do(http.MethodPost, "/api/v1/logout", `{}`, viewer, nil); rec.Code != http.StatusNoContent {
		t.Fatalf("viewer logout: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(http.MethodGet, "/api/v1/alerts", "", viewer, nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("read after logout: %d", rec.Code)
	}
	var actions []string
	for _, r := range *f.audit {
		actions = append(actions, r.Action+":"+r.User)
	}
	if got := strings.Join(actions, " "); got != "login:li login:wang ack:wang ack:scada logout:li" {
		t.Fatalf("audit %q", got)
	}
}

func TestReadsNeedViewer(t *testing.T) {
	f := newAuthFixture(t)
	for _, path := range []string{"/api/v1/alerts", "/api/v1/alerts/a1", "/api/v1/sites", "/api/v1/sites/plant-a/sensors", "/api/v1/stream", "/api/v1/me",
		"/api/v1/sites/plant-a/sensors/gas-1/series", "/api/v1/sites/plant-a/sensors/gas-1/events", "/api/v1/alarm-health",
		"/api/v1/shelves", "/api/v1/features"} {
		if rec := f.do(http.MethodGet, path, "", nil, nil); rec.Code != http.StatusUnauthorized {
			t.Errorf("anonymous GET %s: %d, want 401", path, rec.Code)
		}
	}
	if rec := f.do(http.MethodGet, "/api/v1/sites", "", nil, map[string]string{"Authorization": "Bearer view-token"}); rec.Code != http.StatusOK {
		t.Errorf("viewer token GET: %d", rec.Code)
	}
	// The page itself loads, so it can show the login form.
	if rec := f.do(http.MethodGet, "/", "", nil, nil); rec.Code != http.StatusOK {
		t.Errorf("GET /: %d", rec.Code)
	}
}

// TestOpenConsole: with no account configured reads stay anonymous and
// changes are impossible.
func TestOpenConsole(t *testing.T) {
	hub := NewHub(testRegistry(t), HubOptions{})
	defer hub.Close()
	h := Handler(hub, Options{Acker: &fakeAcker{}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/alerts", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("open read: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/me", nil))
	if !strings.Contains(rec.Body.String(), `"open":true`) {
		t.Fatalf("me: %s", rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/alerts/a1/ack", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("open ack: %d", rec.Code)
	}
}

func TestLoginRateLimit(t *testing.T) {
	f := newAuthFixture(t)
	// Five wrong guesses are answered as wrong; the sixth is refused
	// before the password is even checked, also with the right one.
	for i := range 5 {
		if rec := f.do(http.MethodPost, "/api/v1/login", `{"user":"wang","password":"guess"}`, nil, nil); rec.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, rec.Code)
		}
	}
	rec := f.do(http.MethodPost, "/api/v1/login", `{"user":"wang","password":"op-pass"}`, nil, nil)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("sixth attempt: %d, want 429 with Retry-After", rec.Code)
	}
	// Not per user name alone: wang at another desk still logs in, or
	// anyone could keep an account locked out.
	if rec := f.doFrom("10.0.0.8:1", http.MethodPost, "/api/v1/login", `{"user":"wang","password":"op-pass"}`); rec.Code != http.StatusOK {
		t.Fatalf("other address, same user: %d", rec.Code)
	}
	// The budget refills with time.
	*f.now = f.now.Add(time.Minute)
	f.login(t, "wang", "op-pass")
	var failed int
	for _, r := range *f.audit {
		if r.Action == "login_failed" {
			failed++
		}
	}
	if failed != 6 {
		t.Fatalf("%d failed logins journaled, want 6", failed)
	}
}

func TestLoginNeedsJSON(t *testing.T) {
	f := newAuthFixture(t)
	// What a cross-site HTML form can send.
	rec := f.do(http.MethodPost, "/api/v1/login", "", nil, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("form login: %d", rec.Code)
	}
}

func TestSessionExpiry(t *testing.T) {
	f := newAuthFixture(t)
	s := f.login(t, "wang", "op-pass")
	*f.now = f.now.Add(59 * time.Minute)
	if rec := f.do(http.MethodGet, "/api/v1/alerts", "", s, nil); rec.Code != http.StatusOK {
		t.Fatalf("read at 59m: %d", rec.Code)
	}
	// Use does not extend it: the TTL counts from login.
	*f.now = f.now.Add(time.Minute)
	if rec := f.do(http.MethodGet, "/api/v1/alerts", "", s, nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("read at 60m: %d", rec.Code)
	}
	if rec := f.do(http.MethodPost, "/api/v1/alerts/a1/ack", `{}`, s, nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("ack after expiry: %d", rec.Code)
	}
	if rec := f.do(http.MethodGet, "/api/v1/me", "", s, nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("me after expiry: %d", rec.Code)
	}
}

// TestStreamEndsWithSession: an event stream opened with a session ends
// when the session does, so a console left open cannot outlive it.
func TestStreamEndsWithSession(t *testing.T) {
	b, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// Long enough that a loaded machine logs in and opens the stream
	// well within it.
	const ttl = 2 * time.Second
	a, err := NewAuth(AuthOptions{Users: []User{{Name: "li", PasswordHash: string(b), Role: RoleViewer}}, SessionTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	hub := NewHub(testRegistry(t), HubOptions{})
	defer hub.Close()
	f := authFixture{h: Handler(hub, Options{Auth: a})}
	// The session is made after this, so it cannot end before start+ttl.
	start := time.Now()
	s := f.login(t, "li", "pw")
	done := make(chan int)
	go func() { done <- f.do(http.MethodGet, "/api/v1/stream", "", s, nil).Code }()
	select {
	case code := <-done:
		if code != http.StatusOK {
			t.Fatalf("stream: %d", code)
		}
		if d := time.Since(start); d < ttl {
			t.Fatalf("stream ended after %v, before the session's %v", d, ttl)
		}
	case <-time.After(ttl + 10*time.Second):
		t.Fatal("stream outlived its session")
	}
}
