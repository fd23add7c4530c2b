package app

import (
	"context"
	"time"

	"github.com/riskmon/riskmon/alerting/warmup"
)

// warmUp fills the windows of the sensors that start without recent
// state from InfluxDB's recent history, before ingest starts, so a trend
// or forecast rule is not blind for its first window. Failures are
// logged: the rules then start cold, as they did before.
func (s *Service) warmUp(ctx context.Context) warmup.Stats {
	if s.node != nil {
		// In a cluster the sites are warmed as they are taken over
		// (warmSites); at start this instance holds none.
		return warmup.Stats{}
	}
	if len(s.engine.Cold(time.Now())) == 0 {
		return warmup.Stats{}
	}
	ctx, cancel := context.WithTimeout(ctx, warmup.Timeout)
	defer cancel()
	start := time.Now()
	st, err := warmup.Run(ctx, s.influx, s.engine, s.reg.Catalog(), start)
	if err != nil {
		s.log.Warn("warm-up from InfluxDB failed; windowed rules start cold", "err", err, "cold", st.Cold, "warmed", st.Warmed)
		return st
	}
	if st.Cold > 0 {
		s.log.Info("rule windows warmed from InfluxDB", "cold", st.Cold, "warmed", st.Warmed, "readings", st.Readings,
			"aggregates", st.Aggregates, "queries", st.Queries, "took", time.Since(start).Round(time.Millisecond))
	}
	return st
}
