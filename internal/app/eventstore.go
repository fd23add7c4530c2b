package app

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/ingest"
	"github.com/riskmon/riskmon/storage"
)

// eventStore writes alert events to InfluxDB (measurement alert_event)
// through the spool, so they are as durable as the readings and appear
// beside them on a dashboard. It never waits: with the spool at its cap
// an event is counted as unstored instead (the storage_backlog alert is
// then up anyway).
type eventStore struct {
	sp       *ingest.Spool
	unstored prometheus.Counter
	mu       sync.Mutex
	buf      []byte
}

func newEventStore(sp *ingest.Spool, reg prometheus.Registerer) *eventStore {
	e := &eventStore{sp: sp, unstored: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "riskmon_alert_events_unstored_total",
		Help: "Alert events not written to InfluxDB because the spool was full or closed."})}
	if reg != nil {
		reg.MustRegister(e.unstored)
	}
	return e
}

func (e *eventStore) Emit(ev alerting.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.buf = storage.AppendAlertEvent(e.buf[:0], &storage.AlertEvent{
		Rule: ev.Rule, Site: ev.Site, Sensor: ev.Sensor, Type: ev.Type.String(), AlertID: ev.AlertID,
		Message: ev.Message, Level: uint8(ev.Level), Value: ev.Value, Setpoint: ev.Setpoint, At: ev.At,
		Late: ev.Late, Planned: ev.Planned, Flapping: ev.Flapping, Shelved: ev.Shelved,
	})
	if !e.sp.TryAppend(e.buf, 0) {
		e.unstored.Inc()
	}
}
