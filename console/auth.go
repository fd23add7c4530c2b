package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riskmon/riskmon/alerting/lifecycle"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"
)

// Role is what a caller may do; a higher role may do what a lower one may.
type Role int

// Roles.
const (
	RoleNone Role = iota
	RoleViewer
	RoleOperator
	RoleAdmin
)

var roleNames = [...]string{"", "viewer", "operator", "admin"}

func (r Role) String() string {
	if r > RoleNone && int(r) < len(roleNames) {
		return roleNames[r]
	}
	return "none"
}

// MarshalText encodes the role by name.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// ParseRole reads viewer, operator or admin.
func ParseRole(s string) (Role, error) {
	for i := 1; i < len(roleNames); i++ {
		if s == roleNames[i] {
			return Role(i), nil
		}
	}
	return RoleNone, fmt.Errorf("role %q is not viewer, operator or admin", s)
}

// User is a console account. PasswordHash is a bcrypt hash: the
// configuration file is read by more people than should know passwords.
type User struct {
	Name         string
	PasswordHash string
	Role         Role
}

// Token is a machine client's bearer token.
type Token struct {
	Name  string
	Token string
	Role  Role
}

// Principal is an authenticated caller.
type Principal struct {
	Name string
	Role Role
	// Via is "session" or "token"; only sessions need a CSRF token, as
	// only cookies are sent by a browser without the page asking.
	Via string
	// csrf is the session's anti-forgery token.
	csrf    string
	sid     string
	expires time.Time
}

// AuditRecord is one operator action, for the journal.
type AuditRecord struct {
	At      time.Time `json:"at"`
	Action  string    `json:"action"` // login, login_failed, logout, ack, shelve, unshelve
	User    string    `json:"user"`
	Remote  string    `json:"remote,omitempty"`
	AlertID string    `json:"alert_id,omitempty"`
	Comment string    `json:"comment,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	// ShelfID, Mode, Match and Expires describe a shelve or unshelve.
	ShelfID string             `json:"shelf_id,omitempty"`
	Mode    string             `json:"mode,omitempty"`
	Match   *lifecycle.Matcher `json:"match,omitempty"`
	Expires time.Time          `json:"expires,omitzero"`
	// Count, Since, Addresses and Users sum up the failed logins of a
	// login_failed_summary: how many, since when, from where and for
	// whom (the lists capped at maxSummaryList).
	Count     int       `json:"count,omitempty"`
	Since     time.Time `json:"since,omitzero"`
	Addresses []string  `json:"addresses,omitempty"`
	Users     []string  `json:"users,omitempty"`
}

// AuthOptions configure accounts and sessions.
type AuthOptions struct {
	Users  []User
	Tokens []Token
	// SessionTTL is how long a session lasts from login. Default 12h, a
	// control-room shift.
	SessionTTL time.Duration
	// SecureCookies marks the session cookie Secure even on plain HTTP,
	// for a console behind a TLS-terminating proxy. On TLS connections it
	// is always Secure.
	SecureCookies bool
	// LoginEvery and LoginBurst limit login attempts per client address
	// (an IPv6 client by its /64) and per user name from that address.
	// Never per user name alone: then anyone could keep admin locked out.
	// Default one every 10s with a burst of 5: enough for typos, far too
	// few for guessing.
	LoginEvery time.Duration
	LoginBurst int
	// MaxLimiters bounds the table of login limiters, so a spray of
	// addresses cannot grow it without end. Default 10000. When it is
	// full, idle limiters go first, then the least recently used quarter.
	MaxLimiters int
	// Audit receives every login, logout, failed login and acknowledgement;
	// nil records nothing.
	Audit func(AuditRecord)
	// Sessions, when set, keeps sessions across a restart; NewAuth loads
	// the unexpired ones of users that still exist.
	Sessions SessionStore
	// Now is the session clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Auth holds accounts, sessions and login limits. Safe for concurrent use.
type Auth struct {
	opts  AuthOptions
	users map[string]User
	log   *slog.Logger
	// dummy is compared against when a user does not exist, so the
	// answer takes as long as for a wrong password.
	dummy []byte

	mu       sync.Mutex
	sessions map[string]*session
	limiters map[string]*limiter
	// streams holds the cancel functions of the requests running under
	// each session, so a logout ends its event streams at once.
	streams map[string]map[*context.CancelFunc]struct{}

	// failMu guards the journaling budget of failed logins: anyone can
	// fail a login, so their records must not fill the disk.
	failMu      sync.Mutex
	failBudget  *rate.Limiter
	failSummary *AuditRecord
}

// Failed logins are journaled one by one while the budget lasts (a burst
// of failBurst, then one every failEvery); the rest are summed up in one
// login_failed_summary record per failEvery at most.
const (
	failBurst      = 10
	failEvery      = time.Minute
	maxSummaryList = 20
	// maxUserKey bounds how much of a claimed user name goes into a
	// limiter key.
	maxUserKey = 64
)

type session struct {
	user    string
	role    Role
	csrf    string
	expires time.Time
}

type limiter struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewAuth builds the accounts. With no users and no tokens every caller may
// read and nobody may change anything.
func NewAuth(opts AuthOptions) (*Auth, error) {
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.LoginEvery <= 0 {
		opts.LoginEvery = 10 * time.Second
	}
	if opts.LoginBurst <= 0 {
		opts.LoginBurst = 5
	}
	if opts.MaxLimiters <= 0 {
		opts.MaxLimiters = 10_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Audit == nil {
		opts.Audit = func(AuditRecord) {}
	}
	a := &Auth{opts: opts, users: map[string]User{}, log: opts.Logger,
		sessions: map[string]*session{}, limiters: map[string]*limiter{},
		streams:    map[string]map[*context.CancelFunc]struct{}{},
		failBudget: rate.NewLimiter(rate.Every(failEvery), failBurst)}
	cost := bcrypt.DefaultCost
	for _, u := range opts.Users {
		c, err := bcrypt.Cost([]byte(u.PasswordHash))
		if err != nil {
			return nil, fmt.Errorf("user %s: password_hash is not a bcrypt hash: %w", u.Name, err)
		}
		cost = c
		a.users[u.Name] = u
	}
	if len(a.users) > 0 {
		// Only worth its bcrypt cost when someone can log in; the cost of
		// the accounts', so an unknown name answers as slowly.
		d, err := bcrypt.GenerateFromPassword([]byte("no such user"), cost)
		if err != nil {
			return nil, err
		}
		a.dummy = d
	}
	if opts.Sessions != nil {
		if err := a.loadSessions(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Open reports whether no account is configured, in which case reads are
// anonymous and changes impossible.
func (a *Auth) Open() bool { return len(a.users) == 0 && len(a.opts.Tokens) == 0 }

const (
	sessionCookie = "riskmon_session"
	csrfHeader    = "X-CSRF-Token"
)

// Identify returns the caller: a bearer token holder or a session user.
// An unknown token or an expired session is no one.
func (a *Auth) Identify(r *http.Request) (Principal, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		got, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || got == "" {
			return Principal{}, false
		}
		for _, tk := range a.opts.Tokens {
			// Constant time, so the answer's timing says nothing of a token.
			if subtle.ConstantTimeCompare([]byte(got), []byte(tk.Token)) == 1 {
				return Principal{Name: tk.Name, Role: tk.Role, Via: "token"}, true
			}
		}
		return Principal{}, false
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return Principal{}, false
	}
	now := a.opts.Now()
	key := sessionKey(c.Value)
	a.mu.Lock()
	s, ok := a.sessions[key]
	if ok && !now.Before(s.expires) {
		delete(a.sessions, key)
		a.endRequestsLocked(key)
		a.mu.Unlock()
		a.forget(key) // a disk write: never under the lock every request takes
		return Principal{}, false
	}
	a.mu.Unlock()
	if !ok {
		return Principal{}, false
	}
	// No renewal on use: the page polls, so an idle expiry would never
	// end a console left open. A session lasts a shift, then the next
	// operator logs in under their own name.
	return Principal{Name: s.user, Role: s.role, Via: "session", csrf: s.csrf, sid: c.Value, expires: s.expires}, true
}

// Require wraps next so that only callers with at least role need reach it.
// Reads (need viewer) are open while no account is configured. Session
// callers of a mutating method must send the session's CSRF token in the
// X-CSRF-Token header: SameSite=Strict already keeps other sites' forms
// out, the header covers older browsers and same-site subdomains.
func (a *Auth) Require(need Role, next func(http.ResponseWriter, *http.Request, Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, status := a.check(r, need)
		if status != 0 {
			writeError(w, status, http.StatusText(status))
			return
		}
		if p.Via == "session" {
			// An event stream outliving its session ends with it, at
			// expiry or at logout; the page then finds itself logged out
			// and asks to log in.
			ctx, cancel := context.WithTimeout(r.Context(), p.expires.Sub(a.opts.Now()))
			defer cancel()
			if !a.track(p.sid, &cancel) {
				// Logged out between the check and now.
				writeError(w, http.StatusUnauthorized, http.StatusText(http.StatusUnauthorized))
				return
			}
			defer a.untrack(p.sid, &cancel)
			r = r.WithContext(ctx)
		}
		next(w, r, p)
	}
}

func (a *Auth) check(r *http.Request, need Role) (Principal, int) {
	p, ok := a.Identify(r)
	if !ok {
		if need <= RoleViewer && a.Open() {
			return Principal{Name: "anonymous", Role: RoleViewer}, 0
		}
		return Principal{}, http.StatusUnauthorized
	}
	if p.Role < need {
		return p, http.StatusForbidden
	}
	if p.Via == "session" && mutating(r.Method) {
		got := r.Header.Get(csrfHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.csrf)) != 1 {
			return p, http.StatusForbidden
		}
	}
	return p, 0
}

func mutating(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// ErrRateLimited is returned by Login when too many attempts were made.
var ErrRateLimited = errors.New("too many login attempts; wait and try again")

// errBadLogin is one answer for a wrong user and a wrong password, so the
// login form does not tell which user names exist.
var errBadLogin = errors.New("wrong user name or password")

// Login checks a password and opens a session. remote is the client's
// address: attempts are limited per address and per user name from that
// address.
func (a *Auth) Login(user, password, remote string) (Principal, error) {
	now := a.opts.Now()
	from := addrKey(remote)
	claimed := user
	if len(claimed) > maxUserKey {
		claimed = claimed[:maxUserKey]
	}
	if !a.allow("ip:"+from, now) || !a.allow("user:"+claimed+"@"+from, now) {
		a.failed(now, user, remote, "rate limited")
		return Principal{}, ErrRateLimited
	}
	u, ok := a.users[user]
	if len(a.users) == 0 {
		a.failed(now, user, remote, "no accounts configured")
		return Principal{}, errBadLogin
	}
	hash := a.dummy
	if ok {
		hash = []byte(u.PasswordHash)
	}
	if err := bcrypt.CompareHashAndPassword(hash, []byte(password)); err != nil || !ok {
		a.failed(now, user, remote, "bad credentials")
		return Principal{}, errBadLogin
	}
	sid, csrf := randomToken(), randomToken()
	a.mu.Lock()
	expired := a.pruneLocked(now)
	expires := now.Add(a.opts.SessionTTL)
	a.sessions[sessionKey(sid)] = &session{user: u.Name, role: u.Role, csrf: csrf, expires: expires}
	a.mu.Unlock()
	for _, key := range expired {
		a.forget(key)
	}
	if a.opts.Sessions != nil {
		if err := a.opts.Sessions.PutSession(sessionKey(sid), StoredSession{User: u.Name, CSRF: csrf, Expires: expires}); err != nil {
			// The session works; it only ends with the process.
			a.log.Warn("session not stored; it ends at the next restart", "user", u.Name, "err", err)
		}
	}
	a.opts.Audit(AuditRecord{At: now.UTC(), Action: "login", User: u.Name, Remote: remote})
	return Principal{Name: u.Name, Role: u.Role, Via: "session", csrf: csrf, sid: sid}, nil
}

// failed journals a failed login while the budget lasts and sums it up
// otherwise. Anyone who reaches the port can fail a login, as fast as the
// network allows: each one journaled would fill the disk the spool
// shares.
func (a *Auth) failed(now time.Time, user, remote, reason string) {
	if len(user) > maxUserKey {
		user = user[:maxUserKey] + "…"
	}
	a.failMu.Lock()
	if a.failBudget.AllowN(now, 1) {
		a.failMu.Unlock()
		a.log.Info("console login failed", "user", user, "remote", remote, "reason", reason)
		a.opts.Audit(AuditRecord{At: now.UTC(), Action: "login_failed", User: user, Remote: remote, Reason: reason})
		return
	}
	sum := a.failSummary
	if sum == nil {
		sum = &AuditRecord{Action: "login_failed_summary", Since: now.UTC(), Reason: "failed logins beyond the journaling budget"}
		a.failSummary = sum
	}
	sum.Count++
	sum.At = now.UTC()
	if len(sum.Addresses) < maxSummaryList && !slices.Contains(sum.Addresses, remote) {
		sum.Addresses = append(sum.Addresses, remote)
	}
	if len(sum.Users) < maxSummaryList && !slices.Contains(sum.Users, user) {
		sum.Users = append(sum.Users, user)
	}
	due := now.Sub(sum.Since) >= failEvery
	a.failMu.Unlock()
	if due {
		a.FlushFailed()
	}
}

// FlushFailed journals the summary of failed logins not journaled one by
// one, if there is one. Login calls it once a summary is a minute old;
// the service calls it now and then, and at shutdown, so a flood that
// stops is still recorded.
func (a *Auth) FlushFailed() {
	a.failMu.Lock()
	sum := a.failSummary
	a.failSummary = nil
	a.failMu.Unlock()
	if sum == nil {
		return
	}
	a.log.Warn("console logins failing beyond the journaling budget; summed up in the journal",
		"count", sum.Count, "since", sum.Since, "addresses", len(sum.Addresses), "users", len(sum.Users))
	a.opts.Audit(*sum)
}

// Tick journals the summary of failed logins once it is a minute old,
// for a flood that stopped; the service calls it every second or so.
func (a *Auth) Tick(now time.Time) {
	a.failMu.Lock()
	due := a.failSummary != nil && now.Sub(a.failSummary.Since) >= failEvery
	a.failMu.Unlock()
	if due {
		a.FlushFailed()
	}
}

// track registers the cancel function of a request running under a
// session; it reports false when the session is gone already.
func (a *Auth) track(sid string, cancel *context.CancelFunc) bool {
	key := sessionKey(sid)
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.sessions[key]; !ok {
		return false
	}
	m := a.streams[key]
	if m == nil {
		m = map[*context.CancelFunc]struct{}{}
		a.streams[key] = m
	}
	m[cancel] = struct{}{}
	return true
}

func (a *Auth) untrack(sid string, cancel *context.CancelFunc) {
	key := sessionKey(sid)
	a.mu.Lock()
	defer a.mu.Unlock()
	if m := a.streams[key]; m != nil {
		delete(m, cancel)
		if len(m) == 0 {
			delete(a.streams, key)
		}
	}
}

// endRequestsLocked cancels every request running under a session.
func (a *Auth) endRequestsLocked(key string) {
	for c := range a.streams[key] {
		(*c)()
	}
	delete(a.streams, key)
}

// Logout ends a session and the requests, event streams above all,
// running under it.
func (a *Auth) Logout(p Principal, remote string) {
	key := sessionKey(p.sid)
	a.mu.Lock()
	delete(a.sessions, key)
	a.endRequestsLocked(key)
	a.mu.Unlock()
	a.forget(key)
	a.opts.Audit(AuditRecord{At: a.opts.Now().UTC(), Action: "logout", User: p.Name, Remote: remote})
}

// allow takes one login attempt from key's budget.
func (a *Auth) allow(key string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.limiters[key]
	if !ok {
		if len(a.limiters) >= a.opts.MaxLimiters {
			a.shrinkLimitersLocked(now)
		}
		l = &limiter{lim: rate.NewLimiter(rate.Every(a.opts.LoginEvery), a.opts.LoginBurst)}
		a.limiters[key] = l
	}
	l.seen = now
	return l.lim.AllowN(now, 1)
}

// shrinkLimitersLocked makes room in a full limiter table, so a spray of
// addresses cannot grow it without end. Idle limiters are full again and
// go first; if a spray keeps them all busy, the least recently used
// quarter goes, which costs a sort only once every quarter-table of new
// keys.
func (a *Auth) shrinkLimitersLocked(now time.Time) {
	for k, v := range a.limiters {
		if now.Sub(v.seen) > a.opts.LoginEvery*time.Duration(a.opts.LoginBurst) {
			delete(a.limiters, k)
		}
	}
	if len(a.limiters) < a.opts.MaxLimiters {
		return
	}
	type aged struct {
		key  string
		seen time.Time
	}
	all := make([]aged, 0, len(a.limiters))
	for k, v := range a.limiters {
		all = append(all, aged{k, v.seen})
	}
	slices.SortFunc(all, func(x, y aged) int { return x.seen.Compare(y.seen) })
	for _, e := range all[:len(all)/4+1] {
		delete(a.limiters, e.key)
	}
}

// pruneLocked drops expired sessions and returns their keys, for the
// caller to forget once the lock is released; called on login, so the
// store stays the size of the logged-in staff.
func (a *Auth) pruneLocked(now time.Time) []string {
	var expired []string
	for key, s := range a.sessions {
		if !now.Before(s.expires) {
			delete(a.sessions, key)
			a.endRequestsLocked(key)
			expired = append(expired, key)
		}
	}
	return expired
}

// forget removes a session from the store; a failure leaves a record
// that is dropped as expired at a later load.
func (a *Auth) forget(key string) {
	if a.opts.Sessions != nil {
		_ = a.opts.Sessions.DeleteSession(key)
	}
}

// loadSessions takes up the stored sessions that have not expired and
// whose user still exists, with the user's role of today.
func (a *Auth) loadSessions() error {
	stored, err := a.opts.Sessions.Sessions()
	if err != nil {
		return fmt.Errorf("load sessions: %w", err)
	}
	now := a.opts.Now()
	for key, st := range stored {
		u, ok := a.users[st.User]
		if !ok || !now.Before(st.Expires) {
			a.forget(key)
			continue
		}
		a.sessions[key] = &session{user: u.Name, role: u.Role, csrf: st.CSRF, expires: st.Expires}
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// addrKey is the part of a client address the login limit counts by: an
// IPv4 address, or the /64 of an IPv6 one, since one host commonly holds
// a whole /64.
func addrKey(remote string) string {
	ip, err := netip.ParseAddr(remote)
	if err != nil {
		return remote
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, err := ip.WithZone("").Prefix(64)
	if err != nil {
		return remote
	}
	return p.String()
}

// remoteAddr is the client's IP, without the port: the rate limit is per
// host, not per connection.
func remoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// me is the body of GET /api/v1/me and of a successful login.
type me struct {
	User string `json:"user,omitempty"`
	Role Role   `json:"role"`
	CSRF string `json:"csrf,omitempty"`
	// Open is true when no account is configured: the console is then
	// read-only for everyone and shows no login.
	Open bool `json:"open"`
}

func (a *Auth) serveMe(w http.ResponseWriter, r *http.Request) {
	p, ok := a.Identify(r)
	if !ok {
		if a.Open() {
			writeJSON(w, me{Role: RoleViewer, Open: true})
			return
		}
		writeError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	writeJSON(w, me{User: p.Name, Role: p.Role, CSRF: p.csrf})
}

func (a *Auth) serveLogin(w http.ResponseWriter, r *http.Request) {
	var body struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, `body: want {"user": "…", "password": "…"}`)
		return
	}
	p, err := a.Login(body.User, body.Password, remoteAddr(r))
	switch {
	case errors.Is(err, ErrRateLimited):
		w.Header().Set("Retry-After", fmt.Sprint(int(a.opts.LoginEvery.Seconds())))
		writeError(w, http.StatusTooManyRequests, err.Error())
		return
	case err != nil:
		// Logged by Login within the journaling budget.
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	a.log.Info("console login", "user", p.Name, "role", p.Role.String(), "remote", remoteAddr(r))
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: p.sid, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || a.opts.SecureCookies,
		// No Expires: a session cookie ends with the browser, and the
		// server ends it on idle expiry anyway.
	})
	writeJSON(w, me{User: p.Name, Role: p.Role, CSRF: p.csrf})
}

func (a *Auth) serveLogout(w http.ResponseWriter, r *http.Request, p Principal) {
	if p.Via == "session" {
		a.Logout(p, remoteAddr(r))
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || a.opts.SecureCookies})
	w.WriteHeader(http.StatusNoContent)
}
