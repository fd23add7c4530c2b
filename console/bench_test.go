package console

import (
	"fmt"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// benchRegistry is a fleet of n gas detectors over n/100 plants.
func benchRegistry(b *testing.B, n int) *sensors.Registry {
	b.Helper()
	var sites []sensors.Site
	var sns []sensors.Sensor
	for i := range n {
		site := fmt.Sprintf("plant-%03d", i/100)
		if i%100 == 0 {
			sites = append(sites, sensors.Site{ID: site, Sector: sensors.SectorHazchem})
		}
		sns = append(sns, sensors.Sensor{ID: fmt.Sprintf("gas-%05d", i), Site: site, Kind: "combustible_gas"})
	}
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), sites, sns)
	if err != nil {
		b.Fatal(err)
	}
	return reg
}

// BenchmarkReadings measures the ingest-path cost of Hub.Readings for a
// message of 16 readings on a 10 000-sensor fleet; ns/reading is the
// figure to watch, and allocs/op must stay 0.
func BenchmarkReadings(b *testing.B) {
	const fleet, batch = 10_000, 16
	reg := benchRegistry(b, fleet)
	h := NewHub(reg, HubOptions{})
	// Readings carry the registry's own strings after validation, as
	// ingest hands them over.
	all := reg.Sensors()
	msgs := make([][]sensors.Reading, fleet/batch)
	for m := range msgs {
		for i := range batch {
			s := all[m*batch+i]
			msgs[m] = append(msgs[m], sensors.Reading{Site: s.Site, Sensor: s.ID, Kind: s.Kind, Value: 5, Received: time.Now(), Ref: s})
		}
	}
	t := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		msg := msgs[i%len(msgs)]
		t = t.Add(time.Millisecond)
		for j := range msg {
			msg[j].Time = t
		}
		h.Readings(msg)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/reading")
}

// BenchmarkReadingsParallel is the same under contention from eight ingest
// workers, the default worker count.
func BenchmarkReadingsParallel(b *testing.B) {
	const fleet, batch = 10_000, 16
	reg := benchRegistry(b, fleet)
	h := NewHub(reg, HubOptions{})
	all := reg.Sensors()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		msg := make([]sensors.Reading, batch)
		t := time.Now()
		i := 0
		for pb.Next() {
			t = t.Add(time.Millisecond)
			for j := range msg {
				s := all[(i*batch+j)%fleet]
				msg[j] = sensors.Reading{Site: s.Site, Sensor: s.ID, Value: 5, Time: t}
			}
			i++
			h.Readings(msg)
		}
	})
}

// BenchmarkEvent is the cost of Hub.Emit, which the engine calls under
// its shard lock: encoding the event with its text in both languages,
// recording it and offering it to the streams.
func BenchmarkEvent(b *testing.B) {
	h := NewHub(testRegistry(b), HubOptions{})
	e := ev("a1", alerting.EventFired, sensors.LevelOrange, "plant-a", "gas-1", 0)
	e.Message = "combustible_gas gas-1 at plant-a: 27.5 %LEL at or above 25 %LEL (level 2 orange)"
	h.Event(e)
	e.Type = alerting.EventEscalated
	b.ReportAllocs()
	for b.Loop() {
		h.Event(e)
	}
}
