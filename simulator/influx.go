package simulator

import (
	"context"
	"time"

	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/storage"
)

// AlertEventReader reads the alert events riskmon stored; *storage.Client
// reads them from InfluxDB (measurement alert_event,
// docs/architecture.md).
type AlertEventReader interface {
	AlertEvents(ctx context.Context, since time.Time) ([]storage.AlertEvent, error)
}

// ReadAlertEventsInflux reads the alert events riskmon stored in
// InfluxDB from since on.
func ReadAlertEventsInflux(ctx context.Context, r AlertEventReader, since time.Time) ([]AlertEvent, error) {
	stored, err := r.AlertEvents(ctx, since)
	if err != nil {
		return nil, err
	}
	evs := make([]AlertEvent, len(stored))
	for i, e := range stored {
		evs[i] = AlertEvent{AlertID: e.AlertID, Rule: e.Rule, Site: e.Site, Sensor: e.Sensor, Type: e.Type,
			Message: e.Message, Level: sensors.Level(e.Level), At: e.At}
	}
	return evs, nil
}
