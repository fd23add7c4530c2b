package notify

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sync"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/dispatch"
	"github.com/riskmon/riskmon/sensors"
)

// Route selects events for notifiers. Every field set must match; an
// empty field matches everything.
type Route struct {
	// Notifiers are the names of the notifiers matching events go to.
	Notifiers []string `yaml:"notifiers"`
	// MinLevel is the least severe level that matches: "orange" (or "2",
	// "major") means orange or red. Empty matches every level.
	MinLevel string `yaml:"min_level"`
	// Sectors match the site's sector (hazchem, coal, noncoal, pipeline,
	// urbangas), looked up through RouterOptions' sector function.
	Sectors []string `yaml:"sectors"`
	// Sites and Rules match the event's site and rule; shell patterns as
	// in path.Match, e.g. "hz-*" or "*_high".
	Sites []string `yaml:"sites"`
	Rules []string `yaml:"rules"`
	// Types match the event's type (fired, escalated, deescalated,
	// resolved, acknowledged, reminder): a channel that should hear of
	// an alert once, not be reminded, leaves reminder out.
	Types []string `yaml:"types"`
	// SkipLate leaves out retrospective events (readings that arrived
	// late), for channels that page people.
	SkipLate bool `yaml:"skip_late"`
	// Continue goes on to the next route after this one matched; by
	// default the first matching route ends the search, as in
	// Alertmanager.
	Continue bool `yaml:"continue"`
}

// RouterOptions configure a Router.
type RouterOptions struct {
	// Name labels the router in the Dispatcher; default "router".
	Name string `yaml:"name"`
	// Routes are tried in order.
	Routes []Route `yaml:"routes"`
	// Default are the notifiers of events no route matches; empty drops
	// them.
	Default []string `yaml:"default"`
}

// Match reports whether ev, from a site of the given sector, matches r.
// The level compared is the more severe of the event's level and its
// previous one, so that whoever was told an alert went red also hears it
// go down and resolve.
func Match(r Route, ev alerting.Event, sector string) bool {
	if r.MinLevel != "" {
		least, err := sensors.ParseLevel(r.MinLevel)
		if err != nil {
			return false // NewRouter rejects these; a bad route matches nothing
		}
		lvl := ev.Level
		if ev.PrevLevel.MoreSevere(lvl) {
			lvl = ev.PrevLevel
		}
		if lvl == sensors.LevelNone || least.MoreSevere(lvl) {
			return false
		}
	}
	if len(r.Sectors) > 0 && !slices.Contains(r.Sectors, sector) {
		return false
	}
	if len(r.Types) > 0 && !slices.Contains(r.Types, ev.Type.String()) {
		return false
	}
	if r.SkipLate && ev.Late {
		return false
	}
	return matchAny(r.Sites, ev.Site) && matchAny(r.Rules, ev.Rule)
}

func matchAny(patterns []string, s string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}

// Router is a Notifier that passes each event to the notifiers of the
// routes it matches, or else to the default ones.
//
// Notify sends to the chosen notifiers concurrently and returns when all
// are done, so one slow receiver still delays the router's next event.
// To keep receivers independent, give the Dispatcher Router.Notifiers()
// instead of the router: one filtered notifier per target, each with its
// own queue.
type Router struct {
	name      string
	routes    []Route
	def       []string
	sector    func(site string) string
	notifiers map[string]dispatch.Notifier
	order     []string // notifier names in the order given
}

// NewRouter routes to notifiers, which must have distinct names and
// include every name the routes use. sector maps a site to its sector;
// nil means no site has one, so routes with sectors match nothing.
func NewRouter(opts RouterOptions, notifiers []dispatch.Notifier, sector func(site string) string) (*Router, error) {
	if opts.Name == "" {
		opts.Name = "router"
	}
	if sector == nil {
		sector = func(string) string { return "" }
	}
	r := &Router{name: opts.Name, routes: opts.Routes, def: opts.Default, sector: sector, notifiers: map[string]dispatch.Notifier{}}
	for _, n := range notifiers {
		if _, dup := r.notifiers[n.Name()]; dup {
			return nil, fmt.Errorf("router %s: two notifiers named %q", opts.Name, n.Name())
		}
		r.notifiers[n.Name()] = n
		r.order = append(r.order, n.Name())
	}
	var errs []error
	known := func(where string, names []string) {
		for _, name := range names {
			if _, ok := r.notifiers[name]; !ok {
				errs = append(errs, fmt.Errorf("%s: unknown notifier %q", where, name))
			}
		}
	}
	for i, rt := range opts.Routes {
		where := fmt.Sprintf("routes[%d]", i)
		if len(rt.Notifiers) == 0 {
			errs = append(errs, fmt.Errorf("%s: no notifiers", where))
		}
		known(where, rt.Notifiers)
		if rt.MinLevel != "" {
			if _, err := sensors.ParseLevel(rt.MinLevel); err != nil {
				errs = append(errs, fmt.Errorf("%s.min_level: %w", where, err))
			}
		}
		for _, typ := range rt.Types {
			var t alerting.EventType
			if err := t.UnmarshalText([]byte(typ)); err != nil {
				errs = append(errs, fmt.Errorf("%s.types: %w", where, err))
			}
		}
		for _, p := range slices.Concat(rt.Sites, rt.Rules) {
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("%s: pattern %q: %w", where, p, err))
			}
		}
	}
	known("default", opts.Default)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("router %s: %w", opts.Name, err)
	}
	return r, nil
}

// Name is RouterOptions.Name.
func (r *Router) Name() string { return r.name }

// Targets returns the names of the notifiers ev goes to, each once, in
// route order.
func (r *Router) Targets(ev alerting.Event) []string {
	sector := r.sector(ev.Site)
	var out []string
	matched := false
	for _, rt := range r.routes {
		if !Match(rt, ev, sector) {
			continue
		}
		matched = true
		for _, n := range rt.Notifiers {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
		if !rt.Continue {
			break
		}
	}
	if !matched {
		out = slices.Clone(r.def)
	}
	return out
}

// Notify sends ev to its targets concurrently and joins their errors.
func (r *Router) Notify(ctx context.Context, ev alerting.Event) error {
	targets := r.Targets(ev)
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, name := range targets {
		wg.Go(func() { errs[i] = r.notifiers[name].Notify(ctx, ev) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Notifiers returns one notifier per target, named as the target, that
// passes on only the events the routes send to it. Giving these to the
// Dispatcher instead of the router keeps each receiver on its own queue.
func (r *Router) Notifiers() []dispatch.Notifier {
	out := make([]dispatch.Notifier, 0, len(r.order))
	for _, name := range r.order {
		out = append(out, &routed{r: r, n: r.notifiers[name]})
	}
	return out
}

type routed struct {
	r *Router
	n dispatch.Notifier
}

func (f *routed) Name() string { return f.n.Name() }

func (f *routed) Notify(ctx context.Context, ev alerting.Event) error {
	if !slices.Contains(f.r.Targets(ev), f.n.Name()) {
		return nil
	}
	return f.n.Notify(ctx, ev)
}
