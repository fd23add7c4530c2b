package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

var deviceStart = time.Date(2026, 11, 28, 16, 0, 0, 0, time.UTC)

// tally is what a subscriber saw on the readings topics.
type tally struct {
	good, malformed, readings int
	bySensor                  map[string]int
	seqs                      map[string][]uint64 // per site/gateway, in arrival order
	payloads                  map[string][]string // per topic, in arrival order
	batches                   []received
}

type received struct {
	site  string
	batch wireBatch
}

func count(t *testing.T, msgs []message) tally {
	t.Helper()
	tl := tally{bySensor: map[string]int{}, seqs: map[string][]uint64{}, payloads: map[string][]string{}}
	for _, m := range msgs {
		site, gw := topicGateway(t, m.topic)
		tl.payloads[m.topic] = append(tl.payloads[m.topic], string(m.payload))
		b, err := strictDecode(m.payload)
		if err != nil {
			tl.malformed++
			continue
		}
		tl.good++
		if b.Seq == nil {
			t.Errorf("%s: good batch without seq: %s", m.topic, m.payload)
			continue
		}
		tl.seqs[site+"/"+gw] = append(tl.seqs[site+"/"+gw], *b.Seq)
		for _, r := range *b.Readings {
			tl.readings++
			tl.bySensor[site+"/"+*r.Sensor]++
		}
		tl.batches = append(tl.batches, received{site, b})
	}
	return tl
}

// checkSeqs checks every gateway numbered its batches 1, 2, 3...
func checkSeqs(t *testing.T, tl tally) {
	t.Helper()
	for gw, seqs := range tl.seqs {
		for i, s := range seqs {
			if s != uint64(i)+1 {
				t.Errorf("gateway %s: batch %d has seq %d, want %d", gw, i, s, i+1)
				break
			}
		}
	}
}

func TestPublisherExactCounts(t *testing.T) {
	fleet := DemoFleet(1)
	tests := []struct {
		name        string
		maxReadings int
		malformed   int
	}{
		{"whole rounds", 40 * 25, 5},
		{"partial last round", 1003, 7},
		{"fewer readings than one round", 13, 3},
		{"no malformed", 500, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broker := startBroker(t)
			sub := subscribe(t, broker, "riskmon/v1/+/+/readings")
			p, err := NewPublisher(Options{
				Broker: broker, Fleet: fleet, Interval: time.Second, Speed: math.Inf(1),
				MaxReadings: tt.maxReadings, Malformed: tt.malformed, Seed: 1, Start: deviceStart, Logger: testLogger(t),
			})
			if err != nil {
				t.Fatal(err)
			}
			st, err := p.Run(testContext(t))
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if st.Readings != int64(tt.maxReadings) || st.Malformed != int64(tt.malformed) {
				t.Fatalf("stats: %d readings, %d malformed; want %d, %d", st.Readings, st.Malformed, tt.maxReadings, tt.malformed)
			}
			if st.Failed != 0 || st.Unconfirmed != 0 {
				t.Errorf("stats: %d failed, %d unconfirmed", st.Failed, st.Unconfirmed)
			}
			tl := count(t, sub.waitFor(t, int(st.Messages+st.Malformed)))
			if tl.good != int(st.Messages) || tl.readings != tt.maxReadings || tl.malformed != tt.malformed {
				t.Errorf("delivered %d batches, %d readings, %d malformed; want %d, %d, %d",
					tl.good, tl.readings, tl.malformed, st.Messages, tt.maxReadings, tt.malformed)
			}
			checkSeqs(t, tl)
			var sum int64
			for key, n := range st.BySensor {
				sum += n
				if tl.bySensor[key] != int(n) {
					t.Errorf("%s: delivered %d readings, stats say %d", key, tl.bySensor[key], n)
				}
			}
			if sum != st.Readings {
				t.Errorf("BySensor sums to %d, Readings is %d", sum, st.Readings)
			}
			for _, g := range st.Gateways {
				if g.LastSeq != uint64(g.Messages) {
					t.Errorf("%s/%s: last seq %d after %d messages", g.Site, g.Gateway, g.LastSeq, g.Messages)
				}
			}
			// Every reading is a valid value of a registered sensor.
			reg, _ := fleet.Registry(sensors.DefaultCatalog())
			for _, b := range tl.batches {
				for _, r := range *b.batch.Readings {
					s, ok := reg.Lookup(b.site, *r.Sensor)
					if !ok {
						t.Fatalf("unknown sensor %s/%s", b.site, *r.Sensor)
					}
					if !s.KindInfo().InRange(*r.Value) {
						t.Errorf("%s/%s: %g out of range", b.site, *r.Sensor, *r.Value)
					}
				}
			}
		})
	}
}

func TestPublisherStatusAndDeterminism(t *testing.T) {
	broker := startBroker(t)
	fleet := DemoFleet(1)
	run := func() tally {
		sub := subscribe(t, broker, "riskmon/v1/+/+/readings")
		p, err := NewPublisher(Options{
			Broker: broker, Fleet: fleet, Interval: 5 * time.Second, Speed: math.Inf(1),
			MaxReadings: 400, Malformed: 4, Seed: 99, Start: deviceStart, Logger: testLogger(t),
		})
		if err != nil {
			t.Fatal(err)
		}
		st, err := p.Run(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		return count(t, sub.waitFor(t, int(st.Messages+st.Malformed)))
	}
	a, b := run(), run()
	if len(a.payloads) != len(fleet.Gateways()) {
		t.Errorf("messages on %d topics, want one per gateway (%d)", len(a.payloads), len(fleet.Gateways()))
	}
	for topic, pa := range a.payloads {
		pb := b.payloads[topic]
		if len(pa) != len(pb) {
			t.Errorf("%s: %d then %d messages", topic, len(pa), len(pb))
			continue
		}
		for i := range pa {
			if pa[i] != pb[i] {
				t.Errorf("%s message %d differs between runs with one seed:\n%s\n%s", topic, i, pa[i], pb[i])
				break
			}
		}
	}

	// Every gateway said goodbye with a retained offline.
	status := subscribe(t, broker, "riskmon/v1/+/+/status")
	msgs := status.waitFor(t, len(fleet.Gateways()))
	if len(msgs) != len(fleet.Gateways()) {
		t.Fatalf("%d retained status messages, want %d", len(msgs), len(fleet.Gateways()))
	}
	for _, m := range msgs {
		if string(m.payload) != "offline" || !m.retained {
			t.Errorf("%s: %q retained=%v, want retained offline", m.topic, m.payload, m.retained)
		}
	}
}

// TestPublisherGasLeak checks the published stream against the ground
// truth of the leak: the first reading at or past each setpoint is the
// first sample at or after Up, and so on.
func TestPublisherGasLeak(t *testing.T) {
	broker := startBroker(t)
	fleet := DemoFleet(1)
	leak := GasLeak{Site: "hz-01", Sensor: "GT-201", Start: 10 * time.Second, RampUp: 60 * time.Second,
		Hold: 30 * time.Second, RampDown: 60 * time.Second, Peak: 60}
	const interval = time.Second
	const rounds = 200
	sub := subscribe(t, broker, "riskmon/v1/hz-01/gw2/readings")
	p, err := NewPublisher(Options{
		Broker: broker, Fleet: fleet, Incidents: []GasLeak{leak}, Interval: interval, Speed: math.Inf(1),
		MaxReadings: len(fleet.Sensors) * rounds, Seed: 3, Start: deviceStart, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(testContext(t)); err != nil {
		t.Fatal(err)
	}
	tl := count(t, sub.waitFor(t, rounds))
	if tl.good != rounds {
		t.Fatalf("%d batches, want %d", tl.good, rounds)
	}
	values := make([]float64, rounds) // by round
	for _, b := range tl.batches {
		var ms int64
		if err := json.Unmarshal(b.batch.TS, &ms); err != nil {
			t.Fatal(err)
		}
		round := time.UnixMilli(ms).Sub(deviceStart) / interval
		for _, r := range *b.batch.Readings {
			if *r.Sensor == leak.Sensor {
				values[round] = *r.Value
			}
		}
	}

	reg, _ := fleet.Registry(sensors.DefaultCatalog())
	s, _ := reg.Lookup(leak.Site, leak.Sensor)
	sig, _ := fleet.Signal(s, 3)
	crossings := leak.Crossings(sig.Baseline(), s.EffectiveSetpoints())
	if len(crossings) != 2 {
		t.Fatalf("%d crossings, want 2 (both gas levels)", len(crossings))
	}
	// firstRound is the first sample at or after d.
	firstRound := func(d time.Duration) int { return int((d + interval - 1) / interval) }
	for _, c := range crossings {
		sp := c.Setpoint
		var tripped []int
		cleared := -1
		for i, v := range values {
			if sp.Trips(v) {
				tripped = append(tripped, i)
			}
			if len(tripped) > 0 && cleared < 0 && sp.Clears(v) {
				cleared = i
			}
		}
		if len(tripped) == 0 {
			t.Fatalf("setpoint %g never tripped", sp.Value)
		}
		first, last := tripped[0], tripped[len(tripped)-1]
		if first != firstRound(c.Up) {
			t.Errorf("setpoint %g: first trip in round %d, ground truth Up %s says %d", sp.Value, first, c.Up, firstRound(c.Up))
		}
		if last != firstRound(c.Down)-1 {
			t.Errorf("setpoint %g: last trip in round %d, ground truth Down %s says %d", sp.Value, last, c.Down, firstRound(c.Down)-1)
		}
		if len(tripped) != last-first+1 {
			t.Errorf("setpoint %g: tripped in rounds %v, not one run", sp.Value, tripped)
		}
		if cleared != firstRound(c.Clear) {
			t.Errorf("setpoint %g: cleared in round %d, ground truth Clear %s says %d", sp.Value, cleared, c.Clear, firstRound(c.Clear))
		}
	}
}

func TestPublisherStopsOnCancel(t *testing.T) {
	broker := startBroker(t)
	sub := subscribe(t, broker, "riskmon/v1/+/+/readings")
	p, err := NewPublisher(Options{
		Broker: broker, Fleet: DemoFleet(1), Interval: time.Second, Speed: 100, Malformed: 2, Seed: 5, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	progress := make(chan Stats, 1)
	go func() {
		time.Sleep(150 * time.Millisecond)
		progress <- p.Progress() // concurrently with Run, for the race detector
	}()
	st, err := p.Run(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run ended with %v, want the context's deadline", err)
	}
	if mid := <-progress; mid.Messages == 0 || mid.Messages > st.Messages {
		t.Errorf("progress mid-run %d messages, end %d", mid.Messages, st.Messages)
	}
	if st.Messages == 0 {
		t.Fatal("nothing published")
	}
	// Even a cancelled run knows exactly what reached the broker.
	tl := count(t, sub.waitFor(t, int(st.Messages+st.Malformed)))
	if tl.good != int(st.Messages) || tl.readings != int(st.Readings) || tl.malformed != int(st.Malformed) {
		t.Errorf("delivered %d batches, %d readings, %d malformed; stats say %d, %d, %d",
			tl.good, tl.readings, tl.malformed, st.Messages, st.Readings, st.Malformed)
	}
	checkSeqs(t, tl)
	if _, err := p.Run(testContext(t)); err == nil {
		t.Error("second Run succeeded")
	}
}

func TestNewPublisherRejects(t *testing.T) {
	fleet := DemoFleet(1)
	tests := []struct {
		name string
		opts Options
	}{
		{"no broker", Options{Fleet: fleet}},
		{"empty fleet", Options{Broker: "tcp://127.0.0.1:1"}},
		{"negative speed", Options{Broker: "tcp://127.0.0.1:1", Fleet: fleet, Speed: -1}},
		{"negative max readings", Options{Broker: "tcp://127.0.0.1:1", Fleet: fleet, MaxReadings: -1}},
		{"unknown incident sensor", Options{Broker: "tcp://127.0.0.1:1", Fleet: fleet,
			Incidents: []GasLeak{{Site: "hz-01", Sensor: "XX-999", RampUp: time.Second, Peak: 50}}}},
		{"bad fleet", Options{Broker: "tcp://127.0.0.1:1", Fleet: Fleet{
			Sites:   []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
			Sensors: []sensors.Sensor{{ID: "GT-101", Site: "hz-01", Kind: "no_such_kind"}},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewPublisher(tt.opts); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestPublisherConnectError(t *testing.T) {
	// Nothing listens on port 1.
	p, err := NewPublisher(Options{Broker: "tcp://127.0.0.1:1", Fleet: DemoFleet(1), PublishTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(testContext(t)); err == nil {
		t.Fatal("run without a broker succeeded")
	}
}
