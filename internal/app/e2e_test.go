package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/internal/testenv"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
	"github.com/riskmon/riskmon/storage"
)

// eventLog collects alert events from a receiver.
type eventLog struct {
	mu  sync.Mutex
	evs []alerting.Event
}

func (l *eventLog) add(ev alerting.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

func (l *eventLog) all() []alerting.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]alerting.Event(nil), l.evs...)
}

// threeSites keeps the hazardous-chemicals, coal and pipeline sites of the
// demo fleet.
func threeSites(f simulator.Fleet) simulator.Fleet {
	keep := map[string]bool{}
	var out simulator.Fleet
	out.Nominal = f.Nominal
	for _, s := range f.Sites {
		if s.Sector == sensors.SectorHazchem || s.Sector == sensors.SectorCoal || s.Sector == sensors.SectorPipeline {
			keep[s.ID] = true
			out.Sites = append(out.Sites, s)
		}
	}
	for _, s := range f.Sensors {
		if keep[s.Site] {
			out.Sensors = append(out.Sensors, s)
		}
	}
	return out
}

// TestEndToEndIntegration: the simulator publishes 10,000 readings from 3
// sites with a gas-leak ramp on one detector and 20 malformed messages;
// riskmon must store exactly the valid readings, park every malformed
// message, and raise one alert for the leak that escalates and resolves
// with the ramp — on the embedded broker and on Mosquitto.
func TestEndToEndIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	influx := testenv.Influx(t)
	for i, b := range testenv.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			const total, malformed = 10000, 20
			interval := 5 * time.Second
			fleet := threeSites(simulator.DemoFleet(1))
			reg, err := fleet.Registry(sensors.DefaultCatalog())
			if err != nil {
				t.Fatal(err)
			}
			if len(reg.Sites()) != 3 {
				t.Fatalf("%d sites, want 3", len(reg.Sites()))
			}
			// Device time runs as fast as the broker takes it; place the
			// run in the past, one slot per broker so the counts stay apart.
			rounds := total / reg.Len()
			span := time.Duration(rounds) * interval
			start := time.Now().Add(-time.Duration(i+1) * 3 * span).Truncate(time.Second)
			var leakSensor *sensors.Sensor
			for _, s := range reg.Sensors() {
				if s.Kind == "combustible_gas" && s.Site == "hz-01" {
					leakSensor = s
					break
				}
			}
			if leakSensor == nil {
				t.Fatal("no combustible gas detector at hz-01")
			}
			leak := simulator.GasLeak{Site: leakSensor.Site, Sensor: leakSensor.ID, Peak: 60,
				Start: span / 10, RampUp: span / 4, Hold: span / 10, RampDown: span / 4}

			webhook := &eventLog{}
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var ev alerting.Event
				body, _ := io.ReadAll(r.Body)
				if err := json.Unmarshal(body, &ev); err != nil {
					t.Errorf("webhook body %s: %v", body, err)
				}
				webhook.add(ev)
			}))
			defer hook.Close()

			// A de-escalation and an end arrive once per level topic the
			// alert has been at: the log keeps one copy of each change, and
			// redTopic what a subscriber of the leak's site's 1-red alone
			// would have seen.
			mqttAlerts := &eventLog{}
			var (
				seenMu   sync.Mutex
				seen     = map[string]bool{}
				redTopic []string
			)
			sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL).SetClientID("alert-watcher"))
			if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("subscriber: %v", tok.Error())
			}
			defer sub.Disconnect(100)
			tok := sub.Subscribe("riskmon/v1/alerts/#", 1, func(_ mqtt.Client, m mqtt.Message) {
				var ev alerting.Event
				if err := json.Unmarshal(m.Payload(), &ev); err != nil {
					t.Errorf("alert payload %s: %v", m.Payload(), err)
				}
				seenMu.Lock()
				dup := seen[ev.Key()]
				seen[ev.Key()] = true
				if m.Topic() == "riskmon/v1/alerts/"+leak.Site+"/1-red" && ev.Sensor == leak.Sensor && ev.Rule == "combustible_gas_high" {
					redTopic = append(redTopic, ev.Type.String())
				}
				seenMu.Unlock()
				if !dup {
					mqttAlerts.add(ev)
				}
			})
			if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("subscribe: %v", tok.Error())
			}

			cfg, err := config.Load("../../riskmon.example.yaml")
			if err != nil {
				t.Fatal(err)
			}
			cfg.StateDir = t.TempDir()
			cfg.HTTP.Listen = "127.0.0.1:0"
			cfg.MQTT.Broker = b.URL
			cfg.MQTT.ClientID = "riskmon-e2e-" + b.Name
			cfg.InfluxDB = config.InfluxDB{URL: influx.URL, Bucket: "riskmon"}
			cfg.Alerting.Notify.Webhooks = []config.Webhook{{URL: hook.URL}}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
			svc, err := New(cfg, reg, log)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- svc.Run(ctx) }()
			rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
			defer rcancel()
			for svc.Ready(rctx) != nil {
				if rctx.Err() != nil {
					t.Fatal("service not ready")
				}
				time.Sleep(50 * time.Millisecond)
			}

			pub, err := simulator.NewPublisher(simulator.Options{
				Broker: b.URL, Fleet: fleet, Incidents: []simulator.GasLeak{leak}, Interval: interval,
				Speed: math.Inf(1), MaxReadings: total, Malformed: malformed, Seed: 7, Start: start,
			})
			if err != nil {
				t.Fatal(err)
			}
			st, err := pub.Run(ctx)
			if err != nil {
				t.Fatalf("simulator: %v", err)
			}
			if st.Readings != total || st.Malformed != malformed {
				t.Fatalf("published %d readings and %d malformed, want %d and %d", st.Readings, st.Malformed, total, malformed)
			}
			want := float64(st.Messages + st.Malformed)
			deadline := time.Now().Add(60 * time.Second)
			for svc.Stats().Acked < want && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			// Gateway status messages (online, offline) are acknowledged
			// too, so the count may run above the readings messages.
			if got := svc.Stats().Acked; got < want {
				t.Fatalf("riskmon acknowledged %v messages, want at least %v", got, want)
			}
			// Notifications flow asynchronously; wait for the resolve.
			// The threshold alert of the leaking detector; its forecast
			// early warning is checked on its own below.
			leakEvents := func(l *eventLog) []alerting.Event {
				var out []alerting.Event
				for _, ev := range l.all() {
					if ev.Sensor == leak.Sensor && ev.Site == leak.Site && ev.Rule == "combustible_gas_high" {
						out = append(out, ev)
					}
				}
				return out
			}
			forecastEvents := func(l *eventLog) []alerting.Event {
				var out []alerting.Event
				for _, ev := range l.all() {
					if ev.Sensor == leak.Sensor && ev.Site == leak.Site && ev.Rule == "combustible_gas_forecast" {
						out = append(out, ev)
					}
				}
				return out
			}
			for _, l := range []*eventLog{webhook, mqttAlerts} {
				for len(leakEvents(l)) < 4 && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("service: %v", err)
			}

			// Exactly the valid readings are stored.
			n, err := svc.ReadingsStored(context.Background(), start.Add(-time.Minute), start.Add(span+time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if n != total {
				t.Errorf("InfluxDB holds %d readings of this run, want %d", n, total)
			}
			// Alert events are stored beside the readings.
			inWindow := 0
			for _, ev := range webhook.all() {
				if !ev.At.Before(start.Add(-time.Minute)) && ev.At.Before(start.Add(span+time.Minute)) {
					inWindow++
				}
			}
			// Read back as anyone with the bucket would.
			db := storage.New(storage.Options{URL: cfg.InfluxDB.URL, Org: cfg.InfluxDB.Org, Bucket: cfg.InfluxDB.Bucket})
			defer db.Close()
			stored, err := db.CountPoints(context.Background(), storage.MeasurementAlert, "value", start.Add(-time.Minute), start.Add(span+time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if inWindow == 0 || stored != int64(inWindow) {
				t.Errorf("InfluxDB holds %d alert events of this run, the webhook got %d", stored, inWindow)
			}
			// Every malformed message is counted and parked.
			if st := svc.Stats(); st.Rejected != malformed || st.DeadLetters != malformed {
				t.Errorf("rejected %v, dead letters %d; want %d", st.Rejected, st.DeadLetters, malformed)
			}

			// One alert for the leak, rising with the ramp and resolving
			// below setpoint minus hysteresis; nothing else alerted.
			crossings := leak.Crossings(fleetBaseline(t, fleet, leakSensor), leakSensor.EffectiveSetpoints())
			if len(crossings) != 2 {
				t.Fatalf("leak crosses %d setpoints, want 2", len(crossings))
			}
			for name, l := range map[string]*eventLog{"webhook": webhook, "mqtt": mqttAlerts} {
				var thresholds []alerting.Event
				for _, ev := range l.all() {
					// The gateways' wills (retained "offline" at the end
					// of the run) rightly raise gateway_offline.
					if ev.Rule != alerting.RuleGatewayOffline && ev.Rule != "combustible_gas_forecast" {
						thresholds = append(thresholds, ev)
					}
				}
				evs := leakEvents(l)
				if len(thresholds) != len(evs) {
					t.Errorf("%s: %d alert events for other sensors (false alerts): %+v", name, len(thresholds)-len(evs), thresholds)
				}
				wantSeq := []struct {
					typ   alerting.EventType
					level sensors.Level
					after time.Duration
				}{
					{alerting.EventFired, sensors.LevelOrange, crossings[0].Up},
					{alerting.EventEscalated, sensors.LevelRed, crossings[1].Up},
					{alerting.EventDeescalated, sensors.LevelOrange, crossings[1].Clear},
					{alerting.EventResolved, sensors.LevelNone, crossings[0].Clear},
				}
				// The early warning comes before the alarm.
				fc := forecastEvents(l)
				if len(fc) == 0 || fc[0].Type != alerting.EventFired || !fc[0].At.Before(start.Add(crossings[0].Up)) {
					t.Errorf("%s: forecast events %+v, want one fired before the 25 %%LEL crossing at %s", name, fc, start.Add(crossings[0].Up))
				} else {
					t.Logf("%s: forecast warned %s before the alarm setpoint was crossed: %s", name, start.Add(crossings[0].Up).Sub(fc[0].At), fc[0].Message)
				}
				if len(evs) != len(wantSeq) {
					t.Fatalf("%s: %d leak events, want %d: %+v", name, len(evs), len(wantSeq), evs)
				}
				for k, w := range wantSeq {
					ev := evs[k]
					if ev.Type != w.typ || ev.Level != w.level || ev.AlertID != evs[0].AlertID {
						t.Errorf("%s event %d = %s level %v id %s, want %s level %v id %s", name, k, ev.Type, ev.Level, ev.AlertID, w.typ, w.level, evs[0].AlertID)
					}
					// The first reading past the crossing raises the change.
					crossed := start.Add(w.after)
					if ev.At.Before(crossed) || ev.At.After(crossed.Add(interval)) {
						t.Errorf("%s event %d (%s) at %s, want within one interval after %s", name, k, ev.Type, ev.At, crossed)
					}
				}
			}
			seenMu.Lock()
			red := strings.Join(redTopic, ",")
			seenMu.Unlock()
			if red != "escalated,deescalated,resolved" {
				t.Errorf("the 1-red topic carried %q for the leak, want escalated,deescalated,resolved: a red subscriber must learn the alarm ended", red)
			}
		})
	}
}

// fleetBaseline is the leaking sensor's normal value, from the same
// signal model the publisher uses.
func fleetBaseline(t *testing.T, f simulator.Fleet, s *sensors.Sensor) float64 {
	t.Helper()
	sig, err := f.Signal(s, 7)
	if err != nil {
		t.Fatal(err)
	}
	return sig.Baseline()
}
