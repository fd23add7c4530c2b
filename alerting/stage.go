package alerting

// Stage is one step of the alert path between the rule engine and the
// notifiers (the flapping hold, shelving, the lifecycle, alarm health):
// a Sink that passes on what it lets through. Stages are built without
// their next step and joined by Link, so the order of the path is one
// list in one place instead of constructors nested inside each other.
type Stage interface {
	Sink
	// SetNext sets where the stage passes events; called once, before
	// the first event.
	SetNext(Sink)
}

// Link joins stages in the order given, the last passing to end, and
// returns where events enter: the first stage, or end when there is none.
func Link(end Sink, stages ...Stage) Sink {
	next := end
	for i := len(stages) - 1; i >= 0; i-- {
		stages[i].SetNext(next)
		next = stages[i]
	}
	return next
}

// Fanout passes every event to each of its sinks in order: the end of the
// alert path, where the outbox, the event store, the journal and the
// console each take every change.
type Fanout []Sink

// Emit passes ev to every sink.
func (f Fanout) Emit(ev Event) {
	for _, s := range f {
		s.Emit(ev)
	}
}
