package storage

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// AlertEvents reads the alert events stored from since on, in the order
// the database returns them.
func (c *Client) AlertEvents(ctx context.Context, since time.Time) ([]AlertEvent, error) {
	res, err := c.run(ctx, alertEventsFlux(c.opts.Bucket, since))
	if err != nil {
		return nil, fmt.Errorf("alert events from %s bucket %s: %w", c.opts.URL, c.opts.Bucket, err)
	}
	defer res.Close()
	var evs []AlertEvent
	for res.Next() {
		r := res.Record()
		str := func(k string) string { s, _ := r.ValueByKey(k).(string); return s }
		flag := func(k string) bool { b, _ := r.ValueByKey(k).(bool); return b }
		ev := AlertEvent{
			AlertID: str(FieldAlertID), Rule: str(TagRule), Site: str(TagSite), Sensor: str(TagSensor),
			Type: str(TagType), Message: str(FieldMessage), Shelved: str(FieldShelved), At: r.Time(),
			Late: flag(FieldLate), Planned: flag(FieldPlanned), Flapping: flag(FieldFlapping),
		}
		ev.Value, _ = toFloat(r.ValueByKey(FieldValue))
		ev.Setpoint, _ = toFloat(r.ValueByKey(FieldSetpoint))
		if l := str(TagLevel); l != "" {
			n, err := strconv.ParseUint(l, 10, 8)
			if err != nil {
				return nil, fmt.Errorf("alert event at %s: level tag %q: %w", ev.At, l, err)
			}
			ev.Level = uint8(n)
		}
		evs = append(evs, ev)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("alert events from %s bucket %s: %w", c.opts.URL, c.opts.Bucket, err)
	}
	return evs, nil
}

// alertEventsFlux selects the alert events from since on, one row per
// event: pivot turns the fields of a point into columns beside its tags.
func alertEventsFlux(bucket string, since time.Time) string {
	return fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s)
  |> filter(fn: (r) => r._measurement == %s)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`,
		fluxString(bucket), fluxTime(since), fluxString(MeasurementAlert))
}
