package alerting

// ruleFamily is one family of per-sensor rules: threshold, early-warning
// (with sensor health) and exposure. The state of a family's rules stays
// in the subject, in value-typed slices or structs of the family's own
// type, so a reading steps it without allocating or boxing; a ruleFamily
// is a stateless view of that state, and the engine loops over
// ruleFamilies instead of knowing each family. Stepping a reading is not
// part of it: Engine.evaluate, the per-reading hot path, steps the
// families itself, as calls through the interface (or even direct calls
// of one method per family) measured several per cent slower. Groups and
// composite rules are not per-sensor and live in the rule set (see
// link).
//
// Every method runs with the subject's shard lock held (or on a rule set
// not yet published).
type ruleFamily interface {
	// tick runs the family's time-driven rules at now, Unix ns of
	// riskmon's clock; most families have none.
	tick(e *Engine, set *ruleSet, s *subject, now int64)
	// rebase moves every device time the family's state keeps through
	// shift, after the gateway's clock was stepped back.
	rebase(s *subject, shift func(*int64))
	// snapshot appends the state of the family's rules that are not idle.
	snapshot(s *subject, out []RuleSnapshot) []RuleSnapshot
	// restore copies rs into the family's rule of the same id and
	// definition and reports whether it did, and whether the family has
	// a rule of that id at all.
	restore(s *subject, rs RuleSnapshot) (kept, known bool)
	// active appends the family's pending and firing alerts.
	active(s *subject, out []Alert) []Alert
	// forget ends, without an event, the open alert of the given id.
	forget(s *subject, id string) bool
	// adopt takes up a stored open alert the snapshot did not have.
	adopt(s *subject, rec Record) bool
}

// ruleFamilies are the families, in the order a reading steps them:
// thresholds first, as the early-warning rules hold back while a
// threshold alert is raised (Engine.evaluate keeps this order).
func ruleFamilies() [3]ruleFamily {
	return [3]ruleFamily{thresholdFamily{}, exposureFamily{}, earlyFamily{}}
}
