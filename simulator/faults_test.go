package simulator

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"
)

// TestPublisherFaults plays the gateway and sensor faults on one site and
// checks the stream: the outage stops the batches and flips the retained
// status (published by the gateway, or by the broker from its will when
// the outage is abrupt), the skew moves the timestamps, the offline
// sensor is left out.
func TestPublisherFaults(t *testing.T) {
	for _, abrupt := range []bool{false, true} {
		name := "status"
		if abrupt {
			name = "abrupt"
		}
		t.Run(name, func(t *testing.T) { testPublisherFaults(t, abrupt) })
	}
}

func testPublisherFaults(t *testing.T, abrupt bool) {
	broker := startBroker(t)
	fleet := DemoFleet(1)
	const interval = time.Second
	status := subscribe(t, broker, "riskmon/v1/pipe-01/gw1/status")
	sub := subscribe(t, broker, "riskmon/v1/pipe-01/gw1/readings")
	scripted := []Incident{
		GatewayOffline{Site: "pipe-01", ID: "gw1", Start: 10 * time.Second, Duration: 5 * time.Second, Abrupt: abrupt},
		ClockSkew{Site: "pipe-01", ID: "gw1", Start: 20 * time.Second, Duration: 5 * time.Second, Offset: 45 * time.Second},
		SensorOffline{Site: "pipe-01", Sensor: "GT-105", Start: 30 * time.Second, Duration: 3 * time.Second},
	}
	p, err := NewPublisher(Options{Broker: broker, Fleet: fleet, Scripted: scripted, Interval: interval, Speed: math.Inf(1),
		Duration: 39 * time.Second, Seed: 1, Start: deviceStart, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Run(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	// 40 ticks (0 s to 39 s) less the five of the outage.
	const want = 35
	var gw GatewayStats
	for _, g := range st.Gateways {
		if g.Site == "pipe-01" && g.Gateway == "gw1" {
			gw = g
		}
	}
	if gw.Messages != want || gw.LastSeq != want {
		t.Fatalf("pipe-01/gw1 sent %d batches up to seq %d, want %d without a seq gap", gw.Messages, gw.LastSeq, want)
	}
	if st.BySensor["pipe-01/GT-105"] != want-3 || st.BySensor["pipe-01/GT-104"] != want {
		t.Errorf("GT-105 sent %d readings, GT-104 %d; want %d and %d", st.BySensor["pipe-01/GT-105"], st.BySensor["pipe-01/GT-104"], want-3, want)
	}

	tl := count(t, sub.waitFor(t, want))
	seen := map[time.Duration]int{} // device elapsed -> readings
	for _, b := range tl.batches {
		var ms int64
		if err := json.Unmarshal(b.batch.TS, &ms); err != nil {
			t.Fatal(err)
		}
		seen[time.UnixMilli(ms).Sub(deviceStart)] = len(*b.batch.Readings)
	}
	for _, tt := range []struct {
		elapsed  time.Duration
		readings int // 0: no batch
	}{
		{9 * time.Second, 5}, {10 * time.Second, 0}, {14 * time.Second, 0}, {15 * time.Second, 5},
		{20 * time.Second, 0}, {65 * time.Second, 5}, {69 * time.Second, 5}, {25 * time.Second, 5},
		{30 * time.Second, 4}, {33 * time.Second, 5},
	} {
		if got := seen[tt.elapsed]; got != tt.readings {
			t.Errorf("batch at +%s: %d readings, want %d", tt.elapsed, got, tt.readings)
		}
	}

	var statuses []string
	for _, m := range status.waitFor(t, 4) {
		// The broker may also hand the subscriber the retained copy of
		// the first "online" if it lands while the subscription settles;
		// the live messages are the sequence to check.
		if !m.retained {
			statuses = append(statuses, string(m.payload))
		}
	}
	wantStatus := []string{"online", "offline", "online", "offline"}
	if len(statuses) != len(wantStatus) {
		t.Fatalf("statuses %v, want %v", statuses, wantStatus)
	}
	for i := range wantStatus {
		if statuses[i] != wantStatus[i] {
			t.Fatalf("statuses %v, want %v", statuses, wantStatus)
		}
	}
}

// TestStuckHoldsLastValue: a stuck sensor without a value of its own
// repeats what it reported last before the fault, as a frozen output
// does, and moves again afterwards; stuck from the first reading, it
// holds that reading (what it reads without the fault), not zero.
func TestStuckHoldsLastValue(t *testing.T) {
	broker := startBroker(t)
	run := func(incidents []Incident) func(s int) float64 {
		sub := subscribe(t, broker, "riskmon/v1/gas-01/gw1/readings")
		p, err := NewPublisher(Options{Broker: broker, Fleet: DemoFleet(1), Scripted: incidents, Interval: time.Second,
			Speed: math.Inf(1), Duration: 39 * time.Second, Seed: 3, Start: deviceStart, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Run(testContext(t)); err != nil {
			t.Fatal(err)
		}
		w := newWireReadings(t)
		for _, m := range sub.waitFor(t, 40) {
			w.decode(m)
		}
		return func(s int) float64 {
			v, ok := w.values[fmt.Sprintf("gas-01/PT-101/%d", deviceStart.Add(time.Duration(s)*time.Second).UnixMilli())]
			if !ok {
				t.Fatalf("no reading at +%ds", s)
			}
			return v
		}
	}
	clean := run(nil)
	for _, tc := range []struct {
		name  string
		start int
		held  func(at func(int) float64) float64
	}{
		{"after readings", 10, func(at func(int) float64) float64 { return at(9) }},
		{"from the first reading", 0, func(func(int) float64) float64 { return clean(0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stuck := StuckSensor{Site: "gas-01", Sensor: "PT-101", Start: time.Duration(tc.start) * time.Second, Duration: 20 * time.Second}
			at := run([]Incident{stuck})
			held := tc.held(at)
			end := tc.start + 20
			for s := tc.start; s < end; s++ {
				if v := at(s); v != held {
					t.Fatalf("+%ds: %g, want the held %g", s, v, held)
				}
			}
			moved := func(from, to int) bool {
				for s := from; s < to; s++ {
					if at(s) != at(s+1) {
						return true
					}
				}
				return false
			}
			if (tc.start > 1 && !moved(0, tc.start-1)) || !moved(end, 38) {
				t.Error("the reading does not move outside the fault: the test shows nothing")
			}
		})
	}
}

// TestGatewayIntervals: with KindIntervals every gateway reports at the
// shortest reporting interval of its sensors' kinds (tailings every
// 10 min, coal every 10 s, gas and pressure every 5 s); Intervals sets a
// site's or a gateway's own.
func TestGatewayIntervals(t *testing.T) {
	broker := startBroker(t)
	fleet := DemoFleet(1)
	fleet.KindIntervals = true
	fleet.Intervals = map[string]time.Duration{"pipe-01": 30 * time.Second, "gas-01/gw2": time.Minute}
	p, err := NewPublisher(Options{Broker: broker, Fleet: fleet, Interval: time.Second, Speed: math.Inf(1),
		Duration: 20 * time.Minute, Seed: 1, Start: deviceStart, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Run(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{
		"tail-01/gw1": 3, "tail-01/gw2": 3, // 0, 10 and 20 min
		"coal-01/gw1": 121, "hz-01/gw1": 241, "hz-01/gw2": 241, "gas-01/gw1": 241,
		"pipe-01/gw1": 41, "gas-01/gw2": 21,
	}
	for _, g := range st.Gateways {
		if w, ok := want[g.Site+"/"+g.Gateway]; ok && g.Messages != w {
			t.Errorf("%s/%s sent %d batches in 20 min, want %d", g.Site, g.Gateway, g.Messages, w)
		}
	}
	if _, err := NewPublisher(Options{Broker: broker, Fleet: fleet, Interval: time.Second, MaxReadings: 100}); err == nil {
		t.Error("max readings with several intervals: no error")
	}
	fleet.Intervals = map[string]time.Duration{"tail-09": time.Minute}
	if _, err := NewPublisher(Options{Broker: broker, Fleet: fleet, Interval: time.Second}); err == nil {
		t.Error("interval for an unknown site: no error")
	}
}
