package app

import (
	"log/slog"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/ingest"
	"github.com/riskmon/riskmon/sensors"
)

// TestRedeliveryRaisesNoSecondAlert: QoS 1 redelivers a message after a
// reconnect or crash. Its readings overwrite their own points (same
// series, same device time), and the engine must not raise a second alert
// for them, nor resolve and re-raise.
func TestRedeliveryRaisesNoSecondAlert(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(),
		[]sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw1"}})
	if err != nil {
		t.Fatal(err)
	}
	var events []alerting.Event
	eng, err := alerting.NewEngine(reg, alerting.SinkFunc(func(ev alerting.Event) { events = append(events, ev) }), alerting.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := ingest.NewMetrics(nil)
	dl, _ := ingest.OpenDeadLetter(ingest.DeadLetterOptions{})
	p := ingest.NewProcessor(reg, ingest.Limits{}, ingest.NewRejecter(m, dl, slog.New(slog.DiscardHandler), time.Minute), m, nil)
	now := time.UnixMilli(1764345600000)
	msgs := []string{
		`{"ts":1764345590000,"seq":1,"readings":[{"sensor":"GT-101","value":30}]}`,
		`{"ts":1764345591000,"seq":2,"readings":[{"sensor":"GT-101","value":10}]}`,
	}
	// Delivered, then both redelivered three times (DUP), in order and
	// interleaved as a broker resending its in-flight window would.
	order := []int{0, 0, 0, 1, 0, 1, 1, 0}
	for _, i := range order {
		for _, r := range p.Process("riskmon/v1/hz-01/gw1/readings", []byte(msgs[i]), now).Readings {
			eng.Evaluate(r)
		}
	}
	if len(events) != 2 || events[0].Type != alerting.EventFired || events[1].Type != alerting.EventResolved || events[0].AlertID != events[1].AlertID {
		t.Fatalf("events = %+v, want one alert fired and resolved once", events)
	}
	if dl.Total() != 0 {
		t.Fatalf("redeliveries were rejected: %d dead letters", dl.Total())
	}
}
