package simulator

import (
	"math"
	"testing"
	"time"
)

// TestPublisherPlannedStop: a run that ends as planned leaves every
// gateway's retained status "online": nothing tells riskmon the sites
// lost their monitoring.
func TestPublisherPlannedStop(t *testing.T) {
	broker := startBroker(t)
	fleet := DemoFleet(1)
	p, err := NewPublisher(Options{
		Broker: broker, Fleet: fleet, Interval: 5 * time.Second, Speed: math.Inf(1),
		MaxReadings: 200, Seed: 7, Start: deviceStart, Logger: testLogger(t), PlannedStop: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(testContext(t)); err != nil {
		t.Fatal(err)
	}
	status := subscribe(t, broker, "riskmon/v1/+/+/status")
	msgs := status.waitFor(t, len(fleet.Gateways()))
	if len(msgs) != len(fleet.Gateways()) {
		t.Fatalf("%d retained status messages, want %d", len(msgs), len(fleet.Gateways()))
	}
	for _, m := range msgs {
		if string(m.payload) != "online" || !m.retained {
			t.Errorf("%s: %q retained=%v, want retained online after a planned stop", m.topic, m.payload, m.retained)
		}
	}
}
