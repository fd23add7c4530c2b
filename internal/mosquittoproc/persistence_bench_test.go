package mosquittoproc

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// BenchmarkPersistence measures what saving after every 1, 100 and 1,000
// changes (1,000 is what Config ships) costs against Mosquitto's timed
// autosave: QoS 1 messages of 20 readings (about 1.6 KB,
// a gateway batch) through a persistent session, with the subscriber
// keeping up ("live") and with the subscriber away so that every message
// queues in the broker ("queued", as while riskmon holds intake back).
//
//	go test -run '^$' -bench Persistence -benchtime 20000x ./internal/mosquittoproc/
func BenchmarkPersistence(b *testing.B) {
	if _, err := FindBinary(); err != nil {
		b.Fatal(err)
	}
	payload := bytes.Repeat([]byte(`{"sensor":"GT-101","value":12.5,"ts":1764345600000},`), 20)
	for _, sched := range []struct{ name, autosave string }{
		{"interval60", IntervalAutosave},
		{"on_changes_1", "autosave_on_changes true\nautosave_interval 1\n"},
		{"on_changes_100", "autosave_on_changes true\nautosave_interval 100\n"},
		{"on_changes_1000", Autosave},
	} {
		for _, queued := range []bool{false, true} {
			mode := "live"
			if queued {
				mode = "queued"
			}
			b.Run(sched.name+"/"+mode, func(b *testing.B) {
				srv, err := StartWith(b.TempDir(), 0, sched.autosave, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer srv.Stop()
				var got atomic.Int64
				sub := client(b, srv.URL, "bench-sub")
				if tok := sub.Subscribe("bench/#", 1, func(mqtt.Client, mqtt.Message) { got.Add(1) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
					b.Fatal(tok.Error())
				}
				if queued {
					sub.Disconnect(100)
				} else {
					defer sub.Disconnect(100)
				}
				pub := client(b, srv.URL, "bench-pub")
				defer pub.Disconnect(100)
				b.SetBytes(int64(len(payload)))
				b.ResetTimer()
				// A window of 100 messages in flight, as a gateway's.
				window := make(chan mqtt.Token, 100)
				done := make(chan struct{})
				go func() {
					for tok := range window {
						tok.Wait()
					}
					close(done)
				}()
				for i := range b.N {
					window <- pub.Publish(fmt.Sprintf("bench/%d", i%10), 1, false, payload)
				}
				close(window)
				<-done
				if !queued {
					for got.Load() < int64(b.N) {
						time.Sleep(time.Millisecond)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

func client(b *testing.B, url, id string) mqtt.Client {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(false).SetMaxResumePubInFlight(100))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	return c
}
