package alerting

import (
	"slices"

	"github.com/riskmon/riskmon/sensors"
)

// Reload replaces the engine's rules with those built from reg and opts
// while it runs. The new rules are compiled first; if any is invalid the
// error is returned and the old rules keep running untouched. Otherwise
// evaluation pauses while the old state is copied across (as Restore
// does: a rule whose definition did not change keeps its state, a
// changed one starts afresh, an open alert of a changed or removed rule
// is resolved with an event saying why), then the new rules are swapped
// in at once, so no reading meets a half-built rule set. opts.Registerer
// and opts.Logger are ignored: the engine keeps its metrics and logger.
func (e *Engine) Reload(reg *sensors.Registry, opts Options) (RestoreStats, error) {
	next, err := buildRuleSet(reg, opts)
	if err != nil {
		return RestoreStats{}, err
	}
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	old := e.cur.Load()
	old.lockAll()
	defer old.unlockAll()
	// Events for closed alerts go out while the old set is still held,
	// so they precede anything the new rules raise for the same sensor.
	st := e.restoreInto(next, old.snapshotLocked(), true)
	e.recountActive(next)
	old.retired = true
	e.cur.Store(next)
	e.reg, e.opts = reg, opts
	return st, nil
}

// Forget drops the state of every sensor, group and composite rule of
// the given sites, without an event: pending and firing alerts, windows,
// exposure. A cluster instance calls it for the sites it stops holding,
// and for those it takes over before it adopts their alerts as kept by
// the last holder, so no state of an earlier hold of its own survives.
// Evaluation pauses while the rest of the state is copied into a fresh
// rule set, as in Reload.
func (e *Engine) Forget(sites []string) error {
	if len(sites) == 0 {
		return nil
	}
	drop := make(map[string]bool, len(sites))
	for _, s := range sites {
		drop[s] = true
	}
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	next, err := buildRuleSet(e.reg, e.opts)
	if err != nil {
		return err
	}
	old := e.cur.Load()
	old.lockAll()
	defer old.unlockAll()
	snap := old.snapshotLocked()
	snap.Subjects = slices.DeleteFunc(snap.Subjects, func(s SubjectSnapshot) bool { return drop[s.Site] })
	snap.Groups = slices.DeleteFunc(snap.Groups, func(g GroupSnapshot) bool { return drop[g.Site] })
	snap.Composites = slices.DeleteFunc(snap.Composites, func(c CompositeSnapshot) bool { return drop[c.Site] })
	e.restoreInto(next, snap, true)
	e.recountActive(next)
	old.retired = true
	e.cur.Store(next)
	return nil
}
