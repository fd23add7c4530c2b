package lifecycle

import "github.com/riskmon/riskmon/alerting"

// orNowhere is next, or a sink that drops every event when next is nil: a
// stage built without its next step, to be joined later by alerting.Link.
func orNowhere(next alerting.Sink) alerting.Sink {
	if next == nil {
		return alerting.SinkFunc(func(alerting.Event) {})
	}
	return next
}

// SetNext sets the stage after the flapping hold (alerting.Stage).
func (f *Flapper) SetNext(next alerting.Sink) { f.next = orNowhere(next) }

// SetNext sets the stage after shelving (alerting.Stage).
func (s *Shelves) SetNext(next alerting.Sink) { s.next = orNowhere(next) }

// SetNext sets the stage after the lifecycle (alerting.Stage).
func (l *Lifecycle) SetNext(next alerting.Sink) { l.next = orNowhere(next) }

// SetNext sets the stage after alarm health (alerting.Stage).
func (h *Health) SetNext(next alerting.Sink) { h.next = orNowhere(next) }
