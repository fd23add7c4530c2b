package simulator

import (
	"slices"
	"testing"
	"time"
)

func TestLoadExactCounts(t *testing.T) {
	tests := []struct {
		name        string
		fleet       Fleet
		opts        LoadOptions
		wantBatches int
	}{
		// 3 gateways of 20 sensors, 1234 readings: 412, 411, 411 per
		// gateway, so 42 batches each with a partial last one.
		{"partial batches", SyntheticFleet(3, 20), LoadOptions{Readings: 1234, MaxInFlight: 16}, 126},
		{"one in flight", SyntheticFleet(2, 20), LoadOptions{Readings: 200, MaxInFlight: 1, BatchSize: 20}, 10},
		{"subset of gateways", SyntheticFleet(4, 40), LoadOptions{Readings: 3000, Gateways: 3, BatchSize: 15}, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broker := startBroker(t)
			sub := subscribe(t, broker, "riskmon/v1/+/+/readings")
			opts := tt.opts
			opts.Broker, opts.Fleet, opts.Seed, opts.Logger = broker, tt.fleet, 11, testLogger(t)
			l, err := NewLoad(opts)
			if err != nil {
				t.Fatal(err)
			}
			res, err := l.Run(testContext(t))
			if err != nil {
				t.Fatal(err)
			}
			if res.Readings != opts.Readings || res.Messages != int64(tt.wantBatches) {
				t.Fatalf("result: %d messages, %d readings; want %d, %d", res.Messages, res.Readings, tt.wantBatches, opts.Readings)
			}
			if res.Failed != 0 || res.Unconfirmed != 0 || res.Elapsed <= 0 {
				t.Errorf("result: %d failed, %d unconfirmed, elapsed %s", res.Failed, res.Unconfirmed, res.Elapsed)
			}
			if m, r := l.Progress(); m != res.Messages || r != res.Readings {
				t.Errorf("progress %d/%d, result %d/%d", m, r, res.Messages, res.Readings)
			}
			tl := count(t, sub.waitFor(t, tt.wantBatches))
			if tl.good != tt.wantBatches || tl.readings != int(opts.Readings) || tl.malformed != 0 {
				t.Errorf("delivered %d batches, %d readings, %d malformed", tl.good, tl.readings, tl.malformed)
			}
			checkSeqs(t, tl)
			for _, b := range tl.batches {
				seen := map[string]bool{}
				for _, r := range *b.batch.Readings {
					if seen[*r.Sensor] {
						t.Fatalf("batch names %s twice", *r.Sensor)
					}
					seen[*r.Sensor] = true
				}
			}
			for _, g := range res.Gateways {
				for i := range g.Sent {
					if g.Sent[i] == 0 || g.Acked[i] < g.Sent[i] {
						t.Fatalf("%s/%s seq %d: sent %d, acked %d", g.Site, g.Gateway, i+1, g.Sent[i], g.Acked[i])
					}
				}
				at, ok := res.SentAt(g.Site, g.Gateway, 1)
				if !ok || at.UnixNano() != g.Sent[0] {
					t.Errorf("SentAt(%s, %s, 1) = %v, %v", g.Site, g.Gateway, at, ok)
				}
				if _, ok := res.SentAt(g.Site, g.Gateway, uint64(len(g.Sent))+1); ok {
					t.Errorf("SentAt past the last seq found a time")
				}
			}
		})
	}
}

func TestNewLoadRejects(t *testing.T) {
	tests := []struct {
		name string
		opts LoadOptions
	}{
		{"no readings", LoadOptions{Broker: "tcp://127.0.0.1:1", Fleet: SyntheticFleet(1, 20)}},
		{"too many gateways", LoadOptions{Broker: "tcp://127.0.0.1:1", Fleet: SyntheticFleet(1, 20), Readings: 10, Gateways: 2}},
		{"batch larger than a gateway", LoadOptions{Broker: "tcp://127.0.0.1:1", Fleet: SyntheticFleet(1, 5), Readings: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewLoad(tt.opts); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// BenchmarkLoad measures the end-to-end QoS 1 publish rate against the
// embedded broker: readings per second and the median broker ack latency.
func BenchmarkLoad(b *testing.B) {
	if testing.Short() {
		b.Skip("needs a broker")
	}
	broker := startBroker(b)
	fleet := SyntheticFleet(4, 20)
	for b.Loop() {
		l, err := NewLoad(LoadOptions{Broker: broker, Fleet: fleet, Readings: 100_000})
		if err != nil {
			b.Fatal(err)
		}
		res, err := l.Run(testContext(b))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(res.Readings)/res.Elapsed.Seconds(), "readings/s")
		var lat []time.Duration
		for _, g := range res.Gateways {
			for i := range g.Sent {
				lat = append(lat, time.Duration(g.Acked[i]-g.Sent[i]))
			}
		}
		if len(lat) > 0 {
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "ack-µs/p50")
		}
	}
}
