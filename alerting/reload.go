package alerting

import (
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
	return st, nil
}
