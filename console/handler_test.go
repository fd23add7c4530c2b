package console

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// fixtureHub holds four alerts:
//
//	red    open      plant-a/gas-2, fired blue at 2, escalated at 3
//	orange open      station-c/p-1, fired at 4
//	orange open      plant-a/gas-1, fired at 1
//	yellow resolved  mine-b/ch4-1, fired at 0, resolved at 5
func fixtureHub(t *testing.T) *Hub {
	t.Helper()
	h := NewHub(testRegistry(t), HubOptions{})
	at := func(e alerting.Event, startMin int) alerting.Event {
		e.StartsAt = t0.Add(time.Duration(startMin) * time.Minute)
		return e
	}
	esc := ev("b", alerting.EventEscalated, sensors.LevelRed, "plant-a", "gas-2", 3)
	esc.PrevLevel = sensors.LevelBlue
	d := ev("d", alerting.EventFired, sensors.LevelOrange, "station-c", "p-1", 4)
	d.Rule, d.Kind, d.Unit = "line_pressure_high", "line_pressure", "MPa"
	c := ev("c", alerting.EventFired, sensors.LevelYellow, "mine-b", "ch4-1", 0)
	c.Rule = "ch4_high"
	cr := ev("c", alerting.EventResolved, sensors.LevelYellow, "mine-b", "ch4-1", 5)
	cr.Rule = "ch4_high"
	for _, e := range []alerting.Event{
		at(c, 0),
		at(ev("a", alerting.EventFired, sensors.LevelOrange, "plant-a", "gas-1", 1), 1),
		at(ev("b", alerting.EventFired, sensors.LevelBlue, "plant-a", "gas-2", 2), 2),
		at(esc, 2),
		at(d, 4),
		at(cr, 0),
	} {
		h.Event(e)
	}
	return h
}

func get(t *testing.T, srv http.Handler, url string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	return rec
}

func TestListAlerts(t *testing.T) {
	srv := Handler(fixtureHub(t), Options{})
	ts := func(min int) string { return t0.Add(time.Duration(min) * time.Minute).Format(time.RFC3339) }
	for _, tc := range []struct {
		name  string
		query string
		want  []string // alert ids in order
		total int
	}{
		{"all in board order", "", []string{"b", "d", "a", "c"}, 4},
		{"state all", "?state=all", []string{"b", "d", "a", "c"}, 4},
		{"open", "?state=open", []string{"b", "d", "a"}, 3},
		{"resolved", "?state=resolved", []string{"c"}, 1},
		{"level number", "?level=2", []string{"d", "a"}, 2},
		{"level colour", "?level=red", []string{"b"}, 1},
		{"two levels", "?level=1&level=3", []string{"b", "c"}, 2},
		{"resolved keeps its last level", "?level=yellow", []string{"c"}, 1},
		{"site", "?site=plant-a", []string{"b", "a"}, 2},
		{"unknown site matches nothing", "?site=nowhere", []string{}, 0},
		{"sector", "?sector=coal", []string{"c"}, 1},
		{"rule", "?rule=line_pressure_high", []string{"d"}, 1},
		{"since drops alerts resolved before", "?since=" + ts(6), []string{"b", "d", "a"}, 3},
		{"since keeps alerts resolved after", "?since=" + ts(5), []string{"b", "d", "a", "c"}, 4},
		{"until drops alerts begun after", "?until=" + ts(2), []string{"a", "c"}, 2},
		{"window", "?since=" + ts(6) + "&until=" + ts(3), []string{"b", "a"}, 2},
		{"filters combine", "?state=open&site=plant-a&level=2", []string{"a"}, 1},
		{"first page", "?limit=2", []string{"b", "d"}, 4},
		{"second page", "?limit=2&offset=2", []string{"a", "c"}, 4},
		{"offset past the end", "?offset=10", []string{}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(t, srv, "/api/v1/alerts"+tc.query)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var page alertPage
			if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, a := range page.Alerts {
				got = append(got, a.ID)
			}
			if !slices.Equal(got, tc.want) || page.Total != tc.total {
				t.Errorf("got %v total %d, want %v total %d", got, page.Total, tc.want, tc.total)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	srv := Handler(fixtureHub(t), Options{MaxLimit: 500})
	for _, tc := range []struct {
		url  string
		code int
		want string // in the error message
	}{
		{"/api/v1/alerts?state=closed", 400, "state"},
		{"/api/v1/alerts?level=5", 400, "level"},
		{"/api/v1/alerts?sector=farm", 400, "sector"},
		{"/api/v1/alerts?since=yesterday", 400, "since"},
		{"/api/v1/alerts?until=2026-13-01", 400, "until"},
		{"/api/v1/alerts?limit=0", 400, "limit"},
		{"/api/v1/alerts?limit=501", 400, "limit"},
		{"/api/v1/alerts?limit=ten", 400, "limit"},
		{"/api/v1/alerts?offset=-1", 400, "offset"},
		{"/api/v1/alerts/nope", 404, "no such alert"},
		{"/api/v1/sites/nope/sensors", 404, "no such site"},
		{"/api/v1/stream?site=nope", 404, "no such site"},
		{"/api/v1/nope", 404, "no such endpoint"},
		{"/api/v2/alerts", 404, "no such endpoint"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			rec := get(t, srv, tc.url)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			var body struct{ Error string }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("error body is not JSON: %v: %s", err, rec.Body)
			}
			if !strings.Contains(body.Error, tc.want) {
				t.Errorf("error %q does not name %q", body.Error, tc.want)
			}
		})
	}
}

func TestGetAlert(t *testing.T) {
	srv := Handler(fixtureHub(t), Options{})
	rec := get(t, srv, "/api/v1/alerts/b")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var a Alert
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	if a.State != StateOpen || a.Level != sensors.LevelRed || a.Color != "red" || a.PeakLevel != sensors.LevelRed ||
		a.Sector != sensors.SectorHazchem || a.EventCount != 2 || len(a.Events) != 2 ||
		a.Events[0].Type != alerting.EventFired || a.Events[1].Type != alerting.EventEscalated {
		t.Errorf("alert b = %+v", a)
	}

	rec = get(t, srv, "/api/v1/alerts/c")
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	if a.State != StateResolved || a.ResolvedAt == nil || !a.ResolvedAt.Equal(t0.Add(5*time.Minute)) || a.Level != sensors.LevelYellow {
		t.Errorf("alert c = %+v", a)
	}
}

func TestSites(t *testing.T) {
	h := fixtureHub(t)
	now := t0.Add(10 * time.Minute)
	h.Readings([]sensors.Reading{{Site: "mine-b", Sensor: "ch4-1", Value: 0.2, Time: now.Add(-5 * time.Second)}})
	srv := Handler(h, Options{Now: func() time.Time { return now }})
	rec := get(t, srv, "/api/v1/sites")
	var body struct{ Sites []SiteSummary }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	want := []SiteSummary{
		{ID: "plant-a", Name: "Plant A", Sector: "hazchem", WorstLevel: 1, WorstColor: "red", OpenAlerts: 2, Sensors: 2, Alerting: 2},
		{ID: "mine-b", Name: "Mine B", Sector: "coal", WorstLevel: 0, WorstColor: "none", Sensors: 1},
		{ID: "station-c", Name: "Station C", Sector: "pipeline", WorstLevel: 2, WorstColor: "orange", OpenAlerts: 1, Sensors: 1, Alerting: 1},
	}
	if !slices.Equal(body.Sites, want) {
		t.Errorf("sites\n got %+v\nwant %+v", body.Sites, want)
	}
}

func TestSiteSensorsStatus(t *testing.T) {
	now := t0.Add(time.Hour)
	for _, tc := range []struct {
		name    string
		site    string
		reading *sensors.Reading
		want    string
	}{
		// ch4 reports every 10 s, so it goes stale after 30 s.
		{"never heard is stale", "mine-b", nil, StatusStale},
		{"fresh reading is ok", "mine-b", &sensors.Reading{Time: now.Add(-29 * time.Second)}, StatusOK},
		{"old reading is stale", "mine-b", &sensors.Reading{Time: now.Add(-31 * time.Second)}, StatusStale},
		{"received time wins over a slow device clock", "mine-b",
			&sensors.Reading{Time: now.Add(-time.Hour), Received: now.Add(-time.Second)}, StatusOK},
		{"open alert is alerting", "station-c", &sensors.Reading{Time: now}, StatusAlerting},
		{"open alert while stale is still alerting", "station-c", nil, StatusAlerting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := fixtureHub(t)
			sensorID := map[string]string{"mine-b": "ch4-1", "station-c": "p-1"}[tc.site]
			if tc.reading != nil {
				r := *tc.reading
				r.Site, r.Sensor, r.Value = tc.site, sensorID, 1.5
				h.Readings([]sensors.Reading{r})
			}
			rec := get(t, Handler(h, Options{Now: func() time.Time { return now }}), "/api/v1/sites/"+tc.site+"/sensors")
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var body struct {
				Site    string
				Sensors []SensorView
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if len(body.Sensors) != 1 {
				t.Fatalf("sensors = %+v", body.Sensors)
			}
			s := body.Sensors[0]
			if s.Status != tc.want {
				t.Errorf("status %q, want %q", s.Status, tc.want)
			}
			if tc.reading != nil && (s.Value == nil || *s.Value != 1.5) {
				t.Errorf("value = %v, want 1.5", s.Value)
			}
			if tc.reading == nil && s.Value != nil {
				t.Errorf("value = %v before any reading", *s.Value)
			}
		})
	}
}

func TestSiteSensorsDetail(t *testing.T) {
	h := fixtureHub(t)
	rec := get(t, Handler(h, Options{}), "/api/v1/sites/station-c/sensors")
	var body struct{ Sensors []SensorView }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	s := body.Sensors[0]
	if s.ID != "p-1" || s.Unit != "MPa" || s.Kind != "line_pressure" || s.StaleAfter != "15s" ||
		len(s.Setpoints) != 1 || s.Setpoints[0].Value != 6.3 || s.Setpoints[0].Color != "orange" ||
		s.Setpoints[0].Direction != "above" || len(s.OpenAlerts) != 1 || s.OpenAlerts[0].ID != "d" {
		t.Errorf("sensor = %+v", s)
	}
}

func TestReadingsKeepNewest(t *testing.T) {
	h := NewHub(testRegistry(t), HubOptions{})
	h.Readings([]sensors.Reading{
		{Site: "plant-a", Sensor: "gas-1", Value: 1, Time: t0.Add(time.Minute)},
		{Site: "plant-a", Sensor: "gas-1", Value: 2, Time: t0}, // replayed from a gateway buffer
		{Site: "plant-a", Sensor: "ghost", Value: 3, Time: t0}, // not registered
	})
	l, ok := h.latestOf("plant-a", "gas-1")
	if !ok || l.value != 1 {
		t.Errorf("latest = %+v, %v; want the newer value 1", l, ok)
	}
	if _, ok := h.latestOf("plant-a", "ghost"); ok {
		t.Error("unregistered sensor was stored")
	}
}

// A reading's registry handle finds its sensor without a lookup; a handle
// from another registry (ingest still on the one before a reload, whose
// order differs) falls back to the site and sensor id.
func TestReadingsByHandle(t *testing.T) {
	reg := testRegistry(t)
	h := NewHub(reg, HubOptions{})
	// The same sensors in reverse order: every index points elsewhere.
	var sites []sensors.Site
	for _, st := range reg.Sites() {
		sites = append(sites, *st)
	}
	var rev []sensors.Sensor
	for _, sn := range slices.Backward(reg.Sensors()) {
		rev = append(rev, *sn)
	}
	other, err := sensors.NewRegistry(sensors.DefaultCatalog(), sites, rev)
	if err != nil {
		t.Fatal(err)
	}
	gas1, _ := reg.Lookup("plant-a", "gas-1")
	ch4, _ := other.Lookup("mine-b", "ch4-1")
	victim := reg.Sensors()[ch4.Index()]
	if victim == ch4 || victim.ID == "ch4-1" || victim.ID == "gas-1" {
		t.Fatal("test needs a stale handle whose index names another, silent sensor of the hub's registry")
	}
	h.Readings([]sensors.Reading{
		{Site: "plant-a", Sensor: "gas-1", Value: 1, Time: t0, Ref: gas1},
		{Site: "mine-b", Sensor: "ch4-1", Value: 2, Time: t0, Ref: ch4},
	})
	for _, tt := range []struct {
		site, sensor string
		want         float64
	}{{"plant-a", "gas-1", 1}, {"mine-b", "ch4-1", 2}} {
		if l, ok := h.latestOf(tt.site, tt.sensor); !ok || l.value != tt.want {
			t.Errorf("%s/%s latest = %+v, %v; want %v", tt.site, tt.sensor, l, ok, tt.want)
		}
	}
	if l, ok := h.latestOf(victim.Site, victim.ID); ok {
		t.Errorf("%s/%s got the reading meant for ch4-1: %+v", victim.Site, victim.ID, l)
	}
}

func TestResolvedAreBounded(t *testing.T) {
	h := NewHub(testRegistry(t), HubOptions{Resolved: 2, AlertEvents: 3})
	for _, id := range []string{"x", "y", "z"} {
		h.Event(ev(id, alerting.EventFired, sensors.LevelYellow, "plant-a", "gas-1", 0))
		h.Event(ev(id, alerting.EventResolved, sensors.LevelYellow, "plant-a", "gas-1", 1))
	}
	if _, ok := h.Alert("x"); ok {
		t.Error("oldest resolved alert x still held")
	}
	if st := h.Stats(); st.Resolved != 2 || st.Open != 0 {
		t.Errorf("stats = %+v", st)
	}
	for i := range 5 {
		h.Event(ev("flap", alerting.EventEscalated, sensors.LevelOrange, "plant-a", "gas-1", i))
	}
	a, _ := h.Alert("flap")
	if len(a.Events) != 3 || a.EventCount != 5 || !a.Events[2].At.Equal(t0.Add(4*time.Minute)) {
		t.Errorf("flap kept %d of %d events, last at %v", len(a.Events), a.EventCount, a.Events[len(a.Events)-1].At)
	}
}

// TestRestore: the open alerts a restarted service kept come back on the
// board with their history and acknowledgement, resolved ones included.
func TestRestore(t *testing.T) {
	fired := ev("r1", alerting.EventFired, sensors.LevelOrange, "plant-a", "gas-1", 0)
	esc := ev("r1", alerting.EventEscalated, sensors.LevelRed, "plant-a", "gas-1", 1)
	ack := ev("r1", alerting.EventAcknowledged, sensors.LevelRed, "plant-a", "gas-1", 2)
	ack.By = "li"
	gone := ev("r2", alerting.EventFired, sensors.LevelYellow, "plant-a", "gas-2", 0)
	goneEnd := ev("r2", alerting.EventResolved, sensors.LevelNone, "plant-a", "gas-2", 3)
	goneEnd.PrevLevel = sensors.LevelYellow
	h := NewHub(testRegistry(t), HubOptions{})
	h.Restore([]alerting.Record{
		{ID: "r1", Events: []alerting.Event{fired, esc, ack}},
		{ID: "r2", Events: []alerting.Event{gone, goneEnd}},
		{ID: "empty"},
	})
	a, ok := h.Alert("r1")
	if !ok || a.Level != sensors.LevelRed || a.EventCount != 3 || !a.StartsAt.Equal(t0) {
		t.Fatalf("r1 after restore: %+v (found %v)", a, ok)
	}
	open, total := h.Alerts(AlertFilter{State: StateOpen}, 0, 0)
	if total != 1 || open[0].ID != "r1" {
		t.Errorf("open after restore: %+v", open)
	}
	if r2, ok := h.Alert("r2"); !ok || r2.State != StateResolved {
		t.Errorf("r2 after restore: %+v (found %v), want it resolved", r2, ok)
	}
	if _, ok := h.Alert("empty"); ok {
		t.Error("a record without events made an alert")
	}
	if st := h.Stats(); st.Resolved != 1 {
		t.Errorf("stats %+v, want one resolved", st)
	}
}

func TestStaticConsole(t *testing.T) {
	srv := Handler(fixtureHub(t), Options{})
	for _, tc := range []struct{ path, ctype, want string }{
		{"/", "text/html", `<script src="app.js"`},
		{"/app.js", "javascript", "EventSource"},
		{"/style.css", "text/css", "--red"},
	} {
		rec := get(t, srv, tc.path)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), tc.ctype) ||
			!strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: status %d type %q", tc.path, rec.Code, rec.Header().Get("Content-Type"))
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: CSP %q", tc.path, csp)
		}
	}
	if rec := get(t, srv, "/nope.js"); rec.Code != http.StatusNotFound {
		t.Errorf("/nope.js: status %d", rec.Code)
	}
}

func TestAcknowledgement(t *testing.T) {
	ack := func(id string, lv sensors.Level, min int) alerting.Event {
		e := ev(id, alerting.EventAcknowledged, lv, "plant-a", "gas-1", min)
		e.By, e.Comment, e.Message = "zhang.wei", "crew sent", "acknowledged by zhang.wei"
		return e
	}
	h := NewHub(testRegistry(t), HubOptions{})
	h.Event(ack("unknown", sensors.LevelOrange, 0))
	if _, ok := h.Alert("unknown"); ok {
		t.Error("an acknowledgement alone created an alert")
	}

	h.Event(ev("a", alerting.EventFired, sensors.LevelOrange, "plant-a", "gas-1", 1))
	h.Event(ack("a", sensors.LevelOrange, 2))
	a, _ := h.Alert("a")
	if !a.Acknowledged || a.AckedBy != "zhang.wei" || a.AckComment != "crew sent" || a.AckedAt == nil ||
		a.Message != "test" || a.State != StateOpen || a.EventCount != 2 {
		t.Errorf("after ack: %+v", a)
	}

	h.Event(ev("a", alerting.EventEscalated, sensors.LevelRed, "plant-a", "gas-1", 3))
	if a, _ := h.Alert("a"); a.Acknowledged || a.Level != sensors.LevelRed {
		t.Errorf("escalation kept the acknowledgement: %+v", a)
	}

	// Resolved, then acknowledged, as the lifecycle allows: it stays resolved.
	h.Event(ev("a", alerting.EventResolved, sensors.LevelRed, "plant-a", "gas-1", 4))
	srv := Handler(h, Options{})
	for q, want := range map[string]int{"?state=resolved&acked=false": 1, "?acked=true": 0, "?acked=maybe": 400} {
		rec := get(t, srv, "/api/v1/alerts"+q)
		var page alertPage
		_ = json.Unmarshal(rec.Body.Bytes(), &page)
		if (want == 400) != (rec.Code == 400) || (rec.Code == 200 && page.Total != want) {
			t.Errorf("%s: status %d total %d, want %d", q, rec.Code, page.Total, want)
		}
	}
	h.Event(ack("a", sensors.LevelNone, 5))
	if a, _ := h.Alert("a"); a.State != StateResolved || !a.Acknowledged || a.Level != sensors.LevelRed {
		t.Errorf("ack after resolve: %+v", a)
	}
	if st := h.Stats(); st.Open != 0 || st.Resolved != 1 {
		t.Errorf("stats = %+v", st)
	}
}

// TestSetRegistry: a reload's registry shows on the site overview at once;
// latest readings of sensors in both registries are kept.
func TestSetRegistry(t *testing.T) {
	old := testRegistry(t)
	h := NewHub(old, HubOptions{})
	first := old.Sensors()[0]
	h.Readings([]sensors.Reading{{Site: first.Site, Sensor: first.ID, Value: 12.5, Time: t0, Received: t0}})
	var sites []sensors.Site
	for _, st := range old.Sites() {
		sites = append(sites, *st)
	}
	sites = append(sites, sensors.Site{ID: "plant-z", Name: "Plant Z", Sector: sensors.SectorHazchem})
	var list []sensors.Sensor
	for _, sn := range old.Sensors() {
		list = append(list, *sn)
	}
	list = append(list, sensors.Sensor{ID: "gas-9", Site: "plant-z", Kind: "combustible_gas", Gateway: "gw9"})
	grown, err := sensors.NewRegistry(sensors.DefaultCatalog(), sites, list)
	if err != nil {
		t.Fatal(err)
	}
	h.SetRegistry(grown)
	views, ok := h.SiteSensors("plant-z", t0, 3)
	if !ok || len(views) != 1 || views[0].ID != "gas-9" {
		t.Fatalf("plant-z after the reload: %+v (found %v)", views, ok)
	}
	if l, ok := h.latestOf(first.Site, first.ID); !ok || l.value != 12.5 {
		t.Fatalf("latest of %s/%s after the reload: %+v (found %v), want 12.5 kept", first.Site, first.ID, l, ok)
	}
	h.Readings([]sensors.Reading{{Site: "plant-z", Sensor: "gas-9", Value: 3, Time: t0, Received: t0}})
	if l, ok := h.latestOf("plant-z", "gas-9"); !ok || l.value != 3 {
		t.Fatalf("reading of the added sensor: %+v (found %v)", l, ok)
	}
}
