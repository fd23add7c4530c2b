package notify

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/dispatch"
	"github.com/riskmon/riskmon/sensors"
)

func TestMatch(t *testing.T) {
	ev := func(rule, site string, level, prev sensors.Level) alerting.Event {
		return alerting.Event{Rule: rule, Site: site, Level: level, PrevLevel: prev}
	}
	orange := ev("combustible_gas_high", "hz-01", sensors.LevelOrange, sensors.LevelNone)
	orange.Type = alerting.EventFired
	tests := []struct {
		name   string
		route  Route
		ev     alerting.Event
		sector string
		want   bool
	}{
		{"empty route matches all", Route{}, orange, "", true},
		{"min orange, orange", Route{MinLevel: "orange"}, orange, "", true},
		{"min orange, red", Route{MinLevel: "orange"}, ev("r", "s", sensors.LevelRed, sensors.LevelOrange), "", true},
		{"min orange, yellow", Route{MinLevel: "orange"}, ev("r", "s", sensors.LevelYellow, sensors.LevelNone), "", false},
		{"min by number", Route{MinLevel: "1"}, orange, "", false},
		{"min by severity", Route{MinLevel: "major"}, orange, "", true},
		{"resolve of red matches red route", Route{MinLevel: "red"}, ev("r", "s", sensors.LevelNone, sensors.LevelRed), "", true},
		{"deescalation from red matches red route", Route{MinLevel: "red"}, ev("r", "s", sensors.LevelOrange, sensors.LevelRed), "", true},
		{"resolve of yellow", Route{MinLevel: "orange"}, ev("r", "s", sensors.LevelNone, sensors.LevelYellow), "", false},
		{"bad level matches nothing", Route{MinLevel: "purple"}, orange, "", false},
		{"sector in list", Route{Sectors: []string{"coal", "hazchem"}}, orange, "hazchem", true},
		{"sector not in list", Route{Sectors: []string{"coal"}}, orange, "hazchem", false},
		{"unknown sector", Route{Sectors: []string{"coal"}}, orange, "", false},
		{"site exact", Route{Sites: []string{"hz-01"}}, orange, "", true},
		{"site pattern", Route{Sites: []string{"hz-*"}}, orange, "", true},
		{"site other", Route{Sites: []string{"cm-*", "hz-02"}}, orange, "", false},
		{"rule pattern", Route{Rules: []string{"*_high"}}, orange, "", true},
		{"rule other", Route{Rules: []string{"sensor_*"}}, orange, "", false},
		{"all must match", Route{MinLevel: "orange", Sectors: []string{"hazchem"}, Sites: []string{"hz-*"}, Rules: []string{"sensor_*"}}, orange, "hazchem", false},
		{"type listed", Route{Types: []string{"fired", "escalated"}}, orange, "", true},
		{"reminder not listed", Route{Types: []string{"fired", "escalated"}}, func() alerting.Event { e := orange; e.Type = alerting.EventReminder; return e }(), "", false},
		{"skip late, live event", Route{SkipLate: true}, orange, "", true},
		{"skip late, late event", Route{SkipLate: true}, func() alerting.Event { e := orange; e.Late = true; return e }(), "", false},
		{"all match", Route{MinLevel: "orange", Sectors: []string{"hazchem"}, Sites: []string{"hz-*"}, Rules: []string{"combustible_*"}}, orange, "hazchem", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Match(tt.route, tt.ev, tt.sector); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

// recorder is a Notifier that remembers the events it got.
type recorder struct {
	name string
	err  error
	mu   sync.Mutex
	got  []alerting.Event
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Notify(_ context.Context, ev alerting.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, ev)
	return r.err
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func TestRouterTargets(t *testing.T) {
	sectors := map[string]string{"hz-01": "hazchem", "cm-01": "coal"}
	opts := RouterOptions{
		Routes: []Route{
			{Notifiers: []string{"coal_room"}, Sectors: []string{"coal"}},
			{Notifiers: []string{"pager"}, MinLevel: "red", Continue: true},
			{Notifiers: []string{"dingtalk", "pager"}, MinLevel: "orange"},
			{Notifiers: []string{"wecom"}},
		},
		Default: []string{"log"},
	}
	var ns []dispatch.Notifier
	for _, name := range []string{"coal_room", "pager", "dingtalk", "wecom", "log"} {
		ns = append(ns, &recorder{name: name})
	}
	r, err := NewRouter(opts, ns, func(site string) string { return sectors[site] })
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ev   alerting.Event
		want []string
	}{
		{"coal goes to coal room only", alerting.Event{Site: "cm-01", Level: sensors.LevelRed}, []string{"coal_room"}},
		{"red continues, no duplicates", alerting.Event{Site: "hz-01", Level: sensors.LevelRed}, []string{"pager", "dingtalk"}},
		{"orange stops at first match", alerting.Event{Site: "hz-01", Level: sensors.LevelOrange}, []string{"dingtalk", "pager"}},
		{"yellow falls through", alerting.Event{Site: "hz-01", Level: sensors.LevelYellow}, []string{"wecom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Targets(tt.ev); !slices.Equal(got, tt.want) {
				t.Errorf("Targets = %v, want %v", got, tt.want)
			}
		})
	}

	noCatchAll := opts
	noCatchAll.Routes = opts.Routes[:3]
	r2, err := NewRouter(noCatchAll, ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := r2.Targets(alerting.Event{Site: "hz-01", Level: sensors.LevelBlue}); !slices.Equal(got, []string{"log"}) {
		t.Errorf("default: Targets = %v, want [log]", got)
	}
}

func TestRouterNotify(t *testing.T) {
	boom := errors.New("boom")
	a, b, c := &recorder{name: "a"}, &recorder{name: "b", err: boom}, &recorder{name: "c"}
	r, err := NewRouter(RouterOptions{Routes: []Route{{Notifiers: []string{"a", "b"}, MinLevel: "orange"}}, Default: []string{"c"}},
		[]dispatch.Notifier{a, b, c}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := firedEvent()
	if err := r.Notify(context.Background(), ev); !errors.Is(err, boom) {
		t.Errorf("Notify error %v, want boom", err)
	}
	if a.count() != 1 || b.count() != 1 || c.count() != 0 {
		t.Errorf("counts a=%d b=%d c=%d, want 1 1 0", a.count(), b.count(), c.count())
	}

	// Per-target notifiers filter the same way, each on its own.
	filtered := r.Notifiers()
	var names []string
	for _, n := range filtered {
		names = append(names, n.Name())
		_ = n.Notify(context.Background(), ev)
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Errorf("names %v", names)
	}
	if a.count() != 2 || b.count() != 2 || c.count() != 0 {
		t.Errorf("counts a=%d b=%d c=%d, want 2 2 0", a.count(), b.count(), c.count())
	}
}

func TestNewRouterRejects(t *testing.T) {
	ns := []dispatch.Notifier{&recorder{name: "a"}}
	tests := []struct {
		name string
		opts RouterOptions
		ns   []dispatch.Notifier
	}{
		{"unknown notifier", RouterOptions{Routes: []Route{{Notifiers: []string{"x"}}}}, ns},
		{"unknown default", RouterOptions{Default: []string{"x"}}, ns},
		{"no notifiers", RouterOptions{Routes: []Route{{}}}, ns},
		{"bad level", RouterOptions{Routes: []Route{{Notifiers: []string{"a"}, MinLevel: "purple"}}}, ns},
		{"bad type", RouterOptions{Routes: []Route{{Notifiers: []string{"a"}, Types: []string{"paged"}}}}, ns},
		{"bad pattern", RouterOptions{Routes: []Route{{Notifiers: []string{"a"}, Sites: []string{"["}}}}, ns},
		{"duplicate names", RouterOptions{}, []dispatch.Notifier{&recorder{name: "a"}, &recorder{name: "a"}}},
	}
	for _, tt := range tests {
		if _, err := NewRouter(tt.opts, tt.ns, nil); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}
