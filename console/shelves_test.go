package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/lifecycle"
)

// fakeShelver keeps shelves in memory and refuses what lifecycle.Shelves
// refuses: no reason, an empty matcher, more than 8 hours of shelving.
type fakeShelver struct {
	now func() time.Time
	mu  sync.Mutex
	seq int
	on  map[string]lifecycle.Shelf
	log []string // "shelve id by user", "unshelve id by user"
	// refuse, when set, refuses the next requests with it, as the real
	// Shelves refuses an alarm that turned red meanwhile.
	refuse error
}

func (f *fakeShelver) setRefuse(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuse = err
}

func newFakeShelver(now func() time.Time) *fakeShelver {
	return &fakeShelver{now: now, on: map[string]lifecycle.Shelf{}}
}

func (f *fakeShelver) Shelve(req lifecycle.ShelfRequest) (lifecycle.Shelf, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.refuse != nil:
		return lifecycle.Shelf{}, f.refuse
	case req.Reason == "":
		return lifecycle.Shelf{}, fmt.Errorf("%w: a reason is required", lifecycle.ErrBadShelf)
	case req.Match == (lifecycle.Matcher{}):
		return lifecycle.Shelf{}, fmt.Errorf("%w: the matcher is empty", lifecycle.ErrBadShelf)
	case req.Mode == lifecycle.ModeShelved && req.Duration > 8*time.Hour:
		return lifecycle.Shelf{}, fmt.Errorf("%w: shelving is limited to 8h", lifecycle.ErrBadShelf)
	}
	f.seq++
	now := f.now()
	sh := lifecycle.Shelf{ID: fmt.Sprintf("s%d", f.seq), Mode: req.Mode, Match: req.Match, Reason: req.Reason, By: req.By,
		Created: now, Expires: now.Add(req.Duration)}
	f.on[sh.ID] = sh
	f.log = append(f.log, "shelve "+sh.ID+" by "+req.By)
	return sh, nil
}

func (f *fakeShelver) Unshelve(id, by string) (lifecycle.Shelf, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sh, ok := f.on[id]
	if !ok {
		return lifecycle.Shelf{}, fmt.Errorf("unshelve %s: %w", id, lifecycle.ErrNoShelf)
	}
	delete(f.on, id)
	sh.Ended, sh.EndedBy = f.now(), by
	f.log = append(f.log, "unshelve "+id+" by "+by)
	return sh, nil
}

func (f *fakeShelver) Shelves() []lifecycle.Shelf {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []lifecycle.Shelf
	for i := 1; i <= f.seq; i++ {
		if sh, ok := f.on[fmt.Sprintf("s%d", i)]; ok {
			out = append(out, sh)
		}
	}
	return out
}

func (f *fakeShelver) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// TestShelveAPI: an operator shelves and ends a shelf; what is wrong with
// a request comes back as 400 naming the field; each change is audited.
func TestShelveAPI(t *testing.T) {
	f := newAuthFixture(t)
	op := f.login(t, "wang", "op-pass")
	viewer := f.login(t, "li", "view-pass")

	if rec := f.do(http.MethodGet, "/api/v1/shelves", "", viewer, nil); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"shelves":[]`) {
		t.Fatalf("empty list: %d %s", rec.Code, rec.Body)
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"not JSON", `shelve it`, "body:"},
		{"unknown field", `{"mode":"shelved","match":{"site":"plant-a"},"reason":"x","duration":"1h","until":"later"}`, "body:"},
		{"bad mode", `{"mode":"silenced","match":{"site":"plant-a"},"reason":"x","duration":"1h"}`, "mode:"},
		{"no duration", `{"match":{"site":"plant-a"},"reason":"x"}`, "duration: required"},
		{"bad duration", `{"match":{"site":"plant-a"},"reason":"x","duration":"2 hours"}`, "duration:"},
		{"negative duration", `{"match":{"site":"plant-a"},"reason":"x","duration":"-1h"}`, "duration:"},
		{"no reason (the shelver's rule)", `{"match":{"site":"plant-a"},"reason":"  ","duration":"1h"}`, "reason is required"},
		{"empty matcher (the shelver's rule)", `{"match":{},"reason":"x","duration":"1h"}`, "matcher is empty"},
		{"too long (the shelver's rule)", `{"match":{"site":"plant-a"},"reason":"x","duration":"9h"}`, "limited to 8h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(http.MethodPost, "/api/v1/shelves", tc.body, op, nil)
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), tc.want) {
				t.Fatalf("status %d %s, want 400 with %q", rec.Code, rec.Body, tc.want)
			}
		})
	}
	rec := f.do(http.MethodPost, "/api/v1/shelves", `{"mode":"shelved","match":{"site":"plant-a","sensor":"gas-1","rule":"combustible_gas_high"},"reason":"detector being cleaned","duration":"2h"}`, op, nil)
	if rec.Code != http.StatusCreated {
		t.Fatalf("shelve: %d %s", rec.Code, rec.Body)
	}
	var sh lifecycle.Shelf
	if err := json.Unmarshal(rec.Body.Bytes(), &sh); err != nil {
		t.Fatal(err)
	}
	if sh.ID != "s1" || sh.By != "wang" || sh.Match.Sensor != "gas-1" || !sh.Expires.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("shelf %+v: want s1 by wang for gas-1 until t0+2h", sh)
	}
	// Out of service by token, defaulting nothing but the mode's name.
	rec = f.do(http.MethodPost, "/api/v1/shelves", `{"mode":"out_of_service","match":{"site":"mine-b","sensor":"ch4-1"},"reason":"calibration","duration":"24h"}`, nil,
		map[string]string{"Authorization": "Bearer op-token"})
	if rec.Code != http.StatusCreated || !strings.Contains(rec.Body.String(), `"by":"scada"`) {
		t.Fatalf("out of service by token: %d %s", rec.Code, rec.Body)
	}
	rec = f.do(http.MethodGet, "/api/v1/shelves", "", viewer, nil)
	var list struct{ Shelves []lifecycle.Shelf }
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list.Shelves) != 2 || list.Shelves[1].Mode != lifecycle.ModeOutOfService {
		t.Fatalf("list: %s (%v)", rec.Body, err)
	}
	// The list names the rule in words in both languages, whether or not
	// an alarm of it is on the board.
	var texts struct {
		Shelves []struct {
			Text struct{ ZH, EN struct{ Rule, Kind string } }
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &texts); err != nil || texts.Shelves[0].Text.ZH.Rule != "可燃气体高限报警" ||
		!strings.Contains(texts.Shelves[0].Text.EN.Rule, ": high") || texts.Shelves[1].Text.ZH.Rule != "" {
		t.Errorf("shelf texts: %s (%v)", rec.Body, err)
	}
	if rec := f.do(http.MethodDelete, "/api/v1/shelves/s1", "", op, nil); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"ended_by":"wang"`) {
		t.Fatalf("unshelve: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(http.MethodDelete, "/api/v1/shelves/s1", "", op, nil); rec.Code != http.StatusNotFound {
		t.Fatalf("unshelve twice: %d %s", rec.Code, rec.Body)
	}
	if got, want := strings.Join(f.shelver.calls(), "|"), "shelve s1 by wang|shelve s2 by scada|unshelve s1 by wang"; got != want {
		t.Fatalf("shelver calls %q, want %q", got, want)
	}
	var audit []string
	for _, r := range *f.audit {
		if r.Action == "shelve" || r.Action == "unshelve" {
			audit = append(audit, fmt.Sprintf("%s:%s:%s:%s", r.Action, r.User, r.ShelfID, r.Mode))
			if r.Action == "shelve" && (r.Match == nil || r.Reason == "" || r.Expires.IsZero()) {
				t.Errorf("shelve audit lacks match, reason or expiry: %+v", r)
			}
		}
	}
	if got, want := strings.Join(audit, " "), "shelve:wang:s1:shelved shelve:scada:s2:out_of_service unshelve:wang:s1:shelved"; got != want {
		t.Fatalf("audit %q, want %q", got, want)
	}
}

// TestShelveOff: without a Shelver the endpoints say so.
func TestShelveOff(t *testing.T) {
	hub := NewHub(testRegistry(t), HubOptions{})
	defer hub.Close()
	a, err := NewAuth(AuthOptions{Tokens: []Token{{Name: "scada", Token: "op", Role: RoleOperator}}})
	if err != nil {
		t.Fatal(err)
	}
	h := Handler(hub, Options{Auth: a})
	f := authFixture{h: h}
	tok := map[string]string{"Authorization": "Bearer op"}
	for _, c := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/v1/shelves", ""},
		{http.MethodPost, "/api/v1/shelves", `{"match":{"site":"plant-a"},"reason":"x","duration":"1h"}`},
		{http.MethodDelete, "/api/v1/shelves/s1", ""},
	} {
		if rec := f.do(c.method, c.path, c.body, nil, tok); rec.Code != http.StatusNotImplemented {
			t.Errorf("%s %s: %d, want 501", c.method, c.path, rec.Code)
		}
	}
}

// TestShelveErrorsFromShelver: an unexpected failure is a 500, not a 400.
func TestShelveErrorsFromShelver(t *testing.T) {
	hub := NewHub(testRegistry(t), HubOptions{})
	defer hub.Close()
	a, err := NewAuth(AuthOptions{Tokens: []Token{{Name: "scada", Token: "op", Role: RoleOperator}}})
	if err != nil {
		t.Fatal(err)
	}
	f := authFixture{h: Handler(hub, Options{Auth: a, Shelver: brokenShelver{}})}
	rec := f.do(http.MethodPost, "/api/v1/shelves", `{"match":{"site":"plant-a"},"reason":"x","duration":"1h"}`, nil, map[string]string{"Authorization": "Bearer op"})
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d %s, want 500", rec.Code, rec.Body)
	}
}

type brokenShelver struct{}

func (brokenShelver) Shelve(lifecycle.ShelfRequest) (lifecycle.Shelf, error) {
	return lifecycle.Shelf{}, errors.New("store is read-only")
}
func (brokenShelver) Unshelve(string, string) (lifecycle.Shelf, error) {
	return lifecycle.Shelf{}, errors.New("store is read-only")
}
func (brokenShelver) Shelves() []lifecycle.Shelf { return nil }

// TestStreamTellsShelvesChanged: a shelf set through the console reaches
// every open stream as a "shelves" event.
func TestStreamTellsShelvesChanged(t *testing.T) {
	hub := NewHub(testRegistry(t), HubOptions{})
	defer hub.Close()
	a, err := NewAuth(AuthOptions{Tokens: []Token{{Name: "scada", Token: "op", Role: RoleOperator}}})
	if err != nil {
		t.Fatal(err)
	}
	f := authFixture{h: Handler(hub, Options{Auth: a, Shelver: newFakeShelver(time.Now)})}
	before := hub.shelfGen.Load()
	if rec := f.do(http.MethodPost, "/api/v1/shelves", `{"match":{"site":"plant-a"},"reason":"x","duration":"1h"}`, nil, map[string]string{"Authorization": "Bearer op"}); rec.Code != http.StatusCreated {
		t.Fatalf("shelve: %d %s", rec.Code, rec.Body)
	}
	if hub.shelfGen.Load() == before {
		t.Fatal("shelving did not mark the shelves changed")
	}
	// An open (read-only) console's stream, told by the hub.
	srv := httptest.NewServer(Handler(hub, Options{ReadingsEvery: 20 * time.Millisecond}))
	t.Cleanup(srv.Close) // after the stream's own cleanup closed it
	events := openStream(t, srv, "", "?readings=none")
	if e := next(t, events); e.name != eventResync {
		t.Fatalf("first event %q, want resync", e.name)
	}
	hub.shelvesChanged()
	if e := next(t, events); e.name != eventShelves {
		t.Fatalf("event %q after a shelf change, want shelves", e.name)
	}
}

// TestShelfViewText: every matcher field an operator reads is in words:
// kind rules, monitoring rules and kinds in both languages; a rule file's
// own rule keeps the name its author gave it.
func TestShelfViewText(t *testing.T) {
	for _, tc := range []struct {
		match                      lifecycle.Matcher
		zhRule, enRule, zhKind, en string
	}{
		{lifecycle.Matcher{Site: "plant-a", Rule: "combustible_gas_high"}, "可燃气体高限报警", "Combustible gas, point detector: high", "", ""},
		{lifecycle.Matcher{Site: "plant-a", Rule: alerting.RuleGatewayOffline}, "网关离线", "Gateway offline", "", ""},
		{lifecycle.Matcher{Site: "mine-b", Kind: "ch4"}, "", "", "甲烷", "Methane"},
		{lifecycle.Matcher{Site: "mine-b", Rule: "gas_no_air"}, "gas_no_air", "gas_no_air", "", ""},
	} {
		v := newShelfView(lifecycle.Shelf{Match: tc.match})
		if v.Text.ZH.Rule != tc.zhRule || v.Text.EN.Rule != tc.enRule || v.Text.ZH.Kind != tc.zhKind || (tc.en != "" && !strings.Contains(v.Text.EN.Kind, tc.en)) {
			t.Errorf("%+v: text %+v", tc.match, v.Text)
		}
	}
}

// TestShelveRefusalCodes: a refused shelf comes back with the code of
// each reason beside its English text, so the page can say it in
// Chinese: the admin-only scopes (403) from the real lifecycle.Shelves and
// the console's own checks (400).
func TestShelveRefusalCodes(t *testing.T) {
	a, err := NewAuth(AuthOptions{Tokens: []Token{{Name: "scada", Token: "op-token", Role: RoleOperator}}})
	if err != nil {
		t.Fatal(err)
	}
	known := func(m lifecycle.Matcher) error {
		if m.Site != "" && m.Site != "plant-a" {
			return fmt.Errorf("no site %q in the registry", m.Site)
		}
		return nil
	}
	shelves, err := lifecycle.NewShelves(alerting.SinkFunc(func(alerting.Event) {}), lifecycle.ShelvesOptions{CheckMatch: known})
	if err != nil {
		t.Fatal(err)
	}
	hub := NewHub(testRegistry(t), HubOptions{})
	t.Cleanup(hub.Close)
	h := Handler(hub, Options{Auth: a, Shelver: shelves})
	for _, tc := range []struct {
		name, body string
		status     int
		codes      string
	}{
		{"a site", `{"match":{"site":"plant-a"},"reason":"x","duration":"1h"}`, http.StatusForbidden, `["admin_scope"]`},
		{"out of service", `{"mode":"out_of_service","match":{"site":"plant-a","sensor":"gas-1","rule":"combustible_gas_high"},"reason":"x","duration":"1h"}`, http.StatusForbidden, `["admin_oos"]`},
		{"unknown site", `{"match":{"site":"nowhere","sensor":"gas-1","rule":"combustible_gas_high"},"reason":"x","duration":"1h"}`, http.StatusBadRequest, `["unknown_scope"]`},
		{"no reason, too long", `{"match":{"site":"plant-a","sensor":"gas-1","rule":"combustible_gas_high"},"reason":" ","duration":"9h"}`, http.StatusBadRequest, `["reason","too_long"]`},
		{"bad mode", `{"mode":"nap","match":{"site":"plant-a"},"reason":"x","duration":"1h"}`, http.StatusBadRequest, `["mode"]`},
		{"not JSON", `shelve it`, http.StatusBadRequest, `["body"]`},
		{"long reason", `{"match":{"site":"plant-a"},"reason":"` + strings.Repeat("x", maxReason+1) + `","duration":"1h"}`, http.StatusBadRequest, `["reason_long"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/api/v1/shelves", strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer op-token")
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var body struct {
				Error string          `json:"error"`
				Codes json.RawMessage `json:"codes"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != tc.status || string(body.Codes) != tc.codes || body.Error == "" {
				t.Errorf("%d %s, want %d with codes %s", rec.Code, rec.Body, tc.status, tc.codes)
			}
		})
	}
}
