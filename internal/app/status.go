package app

import (
	"context"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/ingest"
)

// Stats summarises the service for a status line.
type Stats struct {
	Received, Accepted, Written, Rejected, Acked float64
	// RejectedBy splits Rejected by reason.
	RejectedBy map[ingest.Reason]float64
	// Pending is how many readings wait in the spool for InfluxDB;
	// SpoolFull says the spool is at its cap and intake is held back.
	Pending   int64
	SpoolFull bool
	// DeadLetters is how many rejected messages the dead-letter file
	// took since start.
	DeadLetters int64
	Firing      int
	Raised      uint64
}

// Stats reads the counters.
func (s *Service) Stats() Stats {
	st := Stats{
		Received:    counter(s.metrics.Readings),
		Accepted:    counter(s.metrics.Accepted),
		Written:     counter(s.metrics.Written),
		Acked:       counter(s.metrics.Acked),
		RejectedBy:  map[ingest.Reason]float64{},
		DeadLetters: s.deadLetter.Total(),
	}
	_, st.Pending, st.SpoolFull = s.spool.Backlog()
	for _, r := range ingest.AllReasons() {
		n := counter(s.metrics.Rejected(r))
		st.RejectedBy[r] = n
		st.Rejected += n
	}
	for _, a := range s.engine.Active() {
		if a.State == alerting.StateFiring {
			st.Firing++
		}
	}
	st.Firing += len(s.conditions.Active())
	st.Raised = s.engine.Stats().Fired
	return st
}

// Connected reports whether the collector is connected to the broker.
func (s *Service) Connected() bool {
	return s.pipeline.Input().Connected()
}

// ReadingsStored counts the readings InfluxDB holds with device times in
// [from, to).
func (s *Service) ReadingsStored(ctx context.Context, from, to time.Time) (int64, error) {
	return s.influx.CountReadings(ctx, from, to)
}

// RuleStates lists the pending and firing alerts of the rules and the
// open condition alerts, as GET /api/v1/rule-states shows them.
func (s *Service) RuleStates() []alerting.Alert {
	return ruleStates{s.conditions, s.engine}.Active()
}

// StorageBacklogFiring reports whether the storage backlog alert is up.
func (s *Service) StorageBacklogFiring() bool {
	return s.monitor.StorageBacklogFiring()
}
