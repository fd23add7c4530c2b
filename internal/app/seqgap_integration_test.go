package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
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
)

// TestNoFalseDataLossUnderLoadIntegration: a few hundred gateways publish
// JSON batches with seq as fast as the broker takes them while several
// dozen registered detectors never report, so the stale check raises a
// burst of alerts in the middle of the run. Nothing is lost, so riskmon
// must count no sequence gap and raise no data_loss alert, and every
// message must be taken in exactly once — on the embedded broker and on
// Mosquitto.
func TestNoFalseDataLossUnderLoadIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	for _, b := range testenv.Brokers(t) {
		// An InfluxDB of its own: the service warms its rules up from
		// what the other run stored, which would delay it.
		t.Run(b.Name, func(t *testing.T) { loadWithStaleBurst(t, b, testenv.Influx(t).URL) })
	}
}

// The gateways publishing, and the detectors registered beside their own
// sensors that never report.
const gatewaysUnderLoad, silentSensors = 300, 48

func loadWithStaleBurst(t *testing.T, b testenv.Broker, influxURL string) {
	fleet := simulator.GatewayFleet(gatewaysUnderLoad, 10)
	gws := fleet.Gateways()
	// The silent detectors sit behind gateways that do publish: the
	// gateway is alive and talking, only these sensors are quiet, so
	// each is a sensor_stale alert of its own.
	full := fleet
	full.Sensors = append([]sensors.Sensor(nil), fleet.Sensors...)
	added := 0
	for _, s := range fleet.Sensors {
		if added == silentSensors {
			break
		}
		if s.Kind != "combustible_gas" && s.Kind != "h2s" && s.Kind != "co" && s.Kind != "oxygen" {
			continue // a 5 s reporting interval: stale after 15 s
		}
		q := s
		q.ID = s.ID + "-SILENT"
		full.Sensors = append(full.Sensors, q)
		added++
	}
	if added != silentSensors {
		t.Fatalf("fleet has %d detectors with a 5 s interval, want %d", added, silentSensors)
	}
	reg, err := full.Registry(sensors.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}

	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	// Stale after 2 reporting intervals (10 s for the 5 s detectors)
	// rather than 3, so the burst comes 10 s into the run, not 15 s.
	rules := filepath.Join(cfg.StateDir, "stale.yaml")
	if err := os.WriteFile(rules, []byte("defaults:\n  stale: {factor: 2}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Alerting.Rules = []string{rules}
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.MQTT.Broker = b.URL
	cfg.MQTT.ClientID = "riskmon-seqgap-" + b.Name
	cfg.InfluxDB = config.InfluxDB{URL: influxURL, Bucket: "riskmon"}
	if b.Name == "mosquitto" {
		// Mosquitto sends a subscriber more unacknowledged messages than
		// its max_inflight_messages (over 130,000 seen against 20,000),
		// and the workers wait on the alert path during the burst; queues
		// far below that make the overflow path, with its redelivery
		// after a reconnect, run on every run, however fast the workers, as it did on the machine
		// where false losses were seen. The embedded broker never has
		// more than 65,535 in flight, below the default queues (past
		// that it drops QoS 1 messages), so it runs with the defaults.
		cfg.MQTT.QueueSize = 512
	}
	off, on := false, true
	// As a production service: alerts published on MQTT, not logged.
	cfg.Alerting.Notify.Log, cfg.Alerting.Notify.MQTT = &off, &on
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	svc, err := New(cfg, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	defer rcancel()
	for err := svc.Ready(rctx); err != nil; err = svc.Ready(rctx) {
		if rctx.Err() != nil {
			t.Fatalf("service not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	staleFired := func() int {
		n := 0
		for _, ev := range events(t, svc, "") {
			if ev.Rule == alerting.RuleSensorStale && ev.Type == alerting.EventFired {
				n++
			}
		}
		return n
	}
	started := time.Now()
	// Publish until the burst has fired and a few seconds past it.
	stop := make(chan struct{})
	go func() {
		defer close(stop)
		deadline := time.Now().Add(90 * time.Second)
		for staleFired() < silentSensors && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(3 * time.Second)
	}()
	pubStart := time.Now().Add(-time.Second)
	sent := publishSaturating(t, b.URL, fleet, gws, stop)
	pubEnd := time.Now().Add(5 * time.Second)
	if n := staleFired(); n < silentSensors {
		t.Fatalf("%d sensor_stale alerts fired during the load, want the burst of %d", n, silentSensors)
	}
	var messages, readings int64
	for _, n := range sent {
		messages += n
	}
	readings = messages * 10
	t.Logf("%s: %d messages (%d readings) from %d gateways in %s; the stale burst fired during the load",
		b.Name, messages, readings, len(gws), time.Since(started).Round(time.Millisecond))

	// Every reading stored once: a message the broker sent again after
	// a reconnect overwrites its own points.
	var stored int64
	deadline := time.Now().Add(150 * time.Second)
	for time.Now().Before(deadline) {
		if st := svc.Stats(); st.Pending == 0 && st.Acked >= float64(messages) {
			n, err := svc.ReadingsStored(ctx, pubStart, pubEnd)
			if err != nil {
				t.Fatal(err)
			}
			if stored = n; stored >= readings {
				break
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	overflows := scrape(t, svc, "riskmon_ingest_queue_overflow_total")
	taken := scrape(t, svc, "riskmon_ingest_messages_total")
	t.Logf("%s: %v messages left for redelivery after an overflow; %v taken again after a reconnect; %v taken late by seq",
		b.Name, overflows, taken-float64(messages), scrape(t, svc, "riskmon_ingest_seq_late_messages_total"))
	if overflows == 0 && b.Name == "mosquitto" {
		t.Error("no worker queue overflowed: the run did not exercise redelivery")
	}
	if stored != readings {
		t.Errorf("InfluxDB holds %d readings of the run, %d were published", stored, readings)
	}
	if taken < float64(messages) {
		t.Errorf("riskmon took in %v messages, %d were published", taken, messages)
	}
	if got := scrape(t, svc, "riskmon_ingest_seq_gap_messages_total"); got != 0 {
		t.Errorf("riskmon counted %v messages missing by sequence number; none was lost", got)
	}
	var loss []alerting.Event
	for _, ev := range events(t, svc, "") {
		if ev.Rule == alerting.RuleDataLoss {
			loss = append(loss, ev)
		}
	}
	if len(loss) > 0 {
		t.Errorf("%d data_loss alert events, want none; first: %s", len(loss), loss[0].Message)
	}

	// The load has stopped without wills: each gateway's silence is one
	// gateway_offline alert, not a sensor_stale per sensor.
	for last := -1.0; ; {
		acked := svc.Stats().Acked
		if acked == last {
			break
		}
		last = acked
		time.Sleep(time.Second)
	}
	time.Sleep(12 * time.Second) // past the 10 s stale limit
	offline, stale := map[string]bool{}, 0
	for _, ev := range events(t, svc, "") {
		switch {
		case ev.Type != alerting.EventFired:
		case ev.Rule == alerting.RuleGatewayOffline:
			offline[ev.Site+"/"+ev.Sensor] = true
		case ev.Rule == alerting.RuleSensorStale && !strings.HasSuffix(ev.Sensor, "-SILENT"):
			stale++
		}
	}
	// A gateway is quiet once nothing came from it for the shortest stale
	// limit of its sensors (2 reporting intervals here): by now, every
	// gateway with two or more reporting sensors, one of them a 5 s one.
	type gwSensors struct {
		n        int
		shortest time.Duration
	}
	byGateway := map[string]*gwSensors{}
	for _, sn := range reg.Sensors() {
		if strings.HasSuffix(sn.ID, "-SILENT") {
			continue
		}
		g := byGateway[sn.Site+"/"+sn.Gateway]
		if g == nil {
			g = &gwSensors{shortest: sn.KindInfo().Interval}
			byGateway[sn.Site+"/"+sn.Gateway] = g
		}
		g.n++
		g.shortest = min(g.shortest, sn.KindInfo().Interval)
	}
	due := 0
	for _, g := range byGateway {
		if g.n >= 2 && 2*g.shortest <= 10*time.Second {
			due++
		}
	}
	t.Logf("%s: after the load, %d gateways went quiet, %d of the %d were due to (the others' sensors report less often)",
		b.Name, len(offline), due, len(byGateway))
	if stale > 0 {
		t.Errorf("%d sensor_stale alerts for sensors of gateways that stopped, want one gateway alert each instead", stale)
	}
	if len(offline) < due {
		t.Errorf("%d gateway_offline alerts once the load stopped, want one for each of the %d gateways quiet for longer than their stale limit",
			len(offline), due)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("service: %v", err)
	}
}

// publishSaturating publishes every gateway's JSON batches, seq 1, 2, …,
// over a few connections with a deep in-flight window, until stop is
// closed; it returns how many messages each gateway had acknowledged,
// which is all it sent.
func publishSaturating(t *testing.T, brokerURL string, fleet simulator.Fleet, gws []simulator.Gateway, stop <-chan struct{}) []int64 {
	t.Helper()
	reg, err := fleet.Registry(sensors.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	nominal := map[string]float64{}
	for _, s := range reg.Sensors() {
		sig, err := fleet.Signal(s, 1)
		if err != nil {
			t.Fatal(err)
		}
		nominal[s.Site+"/"+s.ID] = sig.Baseline()
	}
	const conns, window = 2, 512
	sent := make([]int64, len(gws))
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for c := range conns {
		cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).
			SetClientID(fmt.Sprintf("seqgap-pub-%d", c)).SetOrderMatters(false))
		if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publisher connect: %v", tok.Error())
		}
		defer cl.Disconnect(100)
		wg.Go(func() {
			var mine []int
			for i := c; i < len(gws); i += conns {
				mine = append(mine, i)
			}
			bodies := make([][]byte, len(gws))
			for _, i := range mine {
				var body []byte
				for k, id := range gws[i].Sensors {
					if k > 0 {
						body = append(body, ',')
					}
					// Each sensor's normal value, so no setpoint trips:
					// the stale burst is the only alerting of the run.
					body = fmt.Appendf(body, `{"sensor":%q,"value":%s}`, id, strconv.FormatFloat(nominal[gws[i].Site+"/"+id], 'f', 3, 64))
				}
				bodies[i] = append(body, "]}"...)
			}
			toks := make(chan mqtt.Token, window)
			waitDone := make(chan struct{})
			go func() {
				defer close(waitDone)
				for tok := range toks {
					if !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
						errs <- fmt.Errorf("publish: %v", tok.Error())
						return
					}
				}
			}()
			lastTS := make([]int64, len(gws))
			for seq := int64(1); ; seq++ {
				select {
				case <-stop:
					close(toks)
					<-waitDone
					return
				default:
				}
				for _, i := range mine {
					// Strictly increasing per gateway, so no point
					// overwrites another in storage.
					lastTS[i] = max(time.Now().UnixMilli(), lastTS[i]+1)
					var p []byte
					p = append(p, `{"ts":`...)
					p = strconv.AppendInt(p, lastTS[i], 10)
					p = append(p, `,"seq":`...)
					p = strconv.AppendInt(p, seq, 10)
					p = append(p, `,"readings":[`...)
					p = append(p, bodies[i]...)
					toks <- cl.Publish(gws[i].ReadingsTopic(), 1, false, p)
					sent[i] = seq
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return sent
}
