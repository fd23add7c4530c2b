package ingest

import (
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/riskmon/riskmon/internal/testenv"
)

// TestAcknowledgementsReachBrokerIntegration: what the collector
// acknowledged, the broker holds as acknowledged. Messages taken and
// stored by one run are not delivered again to the next run of the same
// persistent session, while messages published between the two, which
// nobody took, are.
func TestAcknowledgementsReachBrokerIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	influx := testenv.Influx(t)
	for i, b := range testenv.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			const taken, waiting = 300, 10
			base := time.Now().Add(-2 * time.Hour).Add(time.Duration(i) * 10 * time.Minute).Truncate(time.Second)
			client := "riskmon-acks-" + b.Name
			pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL).SetClientID("pub-acks-" + b.Name))
			if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("publisher connect: %v", tok.Error())
			}
			defer pub.Disconnect(100)
			publish := func(from, n int) {
				t.Helper()
				var toks []mqtt.Token
				for k := from; k < from+n; k++ {
					toks = append(toks, pub.Publish("riskmon/v1/hz-01/gw-1/readings", 1, false,
						fmt.Sprintf(`{"ts":%d,"readings":[{"sensor":"GT-101","value":%d}]}`, base.Add(time.Duration(k)*time.Second).UnixMilli(), k%20)))
				}
				for _, tok := range toks {
					if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
						t.Fatalf("publish: %v", tok.Error())
					}
				}
			}

			first := startPipeline(t, b.URL, influx.URL, client, "", nil)
			publish(0, taken)
			waitFor(t, 30*time.Second, "all messages acknowledged", func() bool { return testutil.ToFloat64(first.m.Acked) >= taken })
			if err := first.stop(); err != nil {
				t.Fatalf("first run: %v", err)
			}
			// The session lives on in the broker: these wait for it.
			publish(taken, waiting)

			second := startPipeline(t, b.URL, influx.URL, client, "", nil)
			waitFor(t, 10*time.Second, "the waiting messages", func() bool { return testutil.ToFloat64(second.m.Messages) >= waiting })
			// Time for a redelivery of anything left unacknowledged.
			time.Sleep(time.Second)
			if got := testutil.ToFloat64(second.m.Messages); got != waiting {
				t.Fatalf("the second run received %v messages, want the %d that waited: the broker sent again %v the first acknowledged", got, waiting, got-waiting)
			}
		})
	}
}
