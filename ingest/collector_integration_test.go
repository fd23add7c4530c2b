package ingest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riskmon/riskmon/internal/testenv"
	"github.com/riskmon/riskmon/sensors"
)

// TestCollectorIntegration runs the collector against each real broker and
// a real InfluxDB: every valid reading published at QoS 1 is stored
// exactly once, every malformed message is parked, and every message is
// acknowledged.
func TestCollectorIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	influx := testenv.Influx(t)
	for i, b := range testenv.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			const messages, perMessage, malformed = 300, 10, 6
			base := time.Now().Add(-time.Hour).Add(time.Duration(i) * 10 * time.Minute).Truncate(time.Second)
			var evaluated atomic.Int64
			tp := startPipeline(t, b.URL, influx.URL, "riskmon-test-"+b.Name, "", func(rs []sensors.Reading) { evaluated.Add(int64(len(rs))) })
			m, dl, inf := tp.m, tp.dl, tp.influx

			pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL).SetClientID("pub-" + b.Name))
			if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("publisher connect: %v", tok.Error())
			}
			defer pub.Disconnect(100)
			topic := "riskmon/v1/hz-01/gw-1/readings"
			ids := []string{"GT-101", "PT-201", "H2S-501"}
			sent := 0
			var toks []mqtt.Token
			for n := range messages {
				if malformed > 0 && n%(messages/malformed) == messages/malformed/2 {
					toks = append(toks, pub.Publish(topic, 1, false, fmt.Sprintf(`{"ts":%d,"readings":[{"sensor":`, base.UnixMilli())))
				}
				payload := fmt.Sprintf(`{"ts":%d,"seq":%d,"readings":[`, base.Add(time.Duration(n)*time.Second).UnixMilli(), n)
				for k := range perMessage {
					if k > 0 {
						payload += ","
					}
					// Distinct device times per sensor, so no point overwrites another.
					payload += fmt.Sprintf(`{"sensor":%q,"value":%d.5,"ts":%d}`, ids[k%3], k,
						base.Add(time.Duration(n)*time.Second+time.Duration(k)*time.Millisecond).UnixMilli())
				}
				payload += "]}"
				toks = append(toks, pub.Publish(topic, 1, false, payload))
				sent += perMessage
			}
			for _, tok := range toks {
				if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
					t.Fatalf("publish: %v", tok.Error())
				}
			}
			total := float64(messages + malformed)
			waitFor(t, 30*time.Second, "all messages acked", func() bool { return testutil.ToFloat64(m.Acked) >= total })
			waitFor(t, 30*time.Second, "spool drained", func() bool { _, n, _ := tp.Spool.Backlog(); return n == 0 })
			if err := tp.stop(); err != nil {
				t.Fatalf("pipeline: %v", err)
			}
			if got := testutil.ToFloat64(m.Acked); got != total {
				t.Fatalf("acked %v messages, want %v", got, total)
			}
			if int(evaluated.Load()) != sent {
				t.Errorf("readings handed to the engine = %d, want %d", evaluated.Load(), sent)
			}
			if got := testutil.ToFloat64(m.Rejected(ReasonMalformed)); got != malformed || dl.Total() != malformed {
				t.Errorf("malformed counted %v, parked %d; want %d", got, dl.Total(), malformed)
			}
			n, err := inf.CountReadings(context.Background(), base.Add(-time.Minute), base.Add(time.Duration(messages)*time.Second+time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(sent) {
				t.Fatalf("InfluxDB holds %d readings, want %d", n, sent)
			}
		})
	}
}
