package faults

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/riskmon/riskmon/ingest"
	"github.com/riskmon/riskmon/protocol"
	"github.com/riskmon/riskmon/protocol/sparkplug/spb"
	"google.golang.org/protobuf/proto"
)

// TestMalformedStream interleaves every kind of bad input with valid
// traffic in all formats: each bad message or reading is counted under its
// reason and parked, every valid reading lands, and nothing panics.
func TestMalformedStream(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	cfg := r.config(t.TempDir())
	cfg.Limits.MaxPayloadBytes = 256 << 10
	svc, _ := r.service(cfg)
	ru := r.publish(20_000, 5000, 10)

	s0 := r.reg.Sensors()[0]
	site, sensor := s0.Site, s0.ID
	now := time.Now()
	ms := func(d time.Duration) int64 { return now.Add(d).UnixMilli() }
	jsonTopic := protocol.ReadingsTopic(site, "badgw")
	lpTopic := protocol.LPTopic(site, "lpgw")
	// Sparkplug: group = site, edge node = gateway, metric name = sensor.
	spTopic := func(typ string) string { return "spBv1.0/" + site + "/" + typ + "/edge1" }
	metric := func(alias uint64, v float64, tms int64) *spb.Payload_Metric {
		return &spb.Payload_Metric{Alias: proto.Uint64(alias), Timestamp: proto.Uint64(uint64(tms)), Datatype: proto.Uint32(10),
			Value: &spb.Payload_Metric_DoubleValue{DoubleValue: v}}
	}
	birth := &spb.Payload{Timestamp: proto.Uint64(uint64(ms(-time.Minute))), Seq: proto.Uint64(0), Metrics: []*spb.Payload_Metric{
		{Name: proto.String("bdSeq"), Datatype: proto.Uint32(8), Value: &spb.Payload_Metric_LongValue{LongValue: 1}},
		{Name: proto.String(sensor), Alias: proto.Uint64(7), Timestamp: proto.Uint64(uint64(ms(-time.Minute))), Datatype: proto.Uint32(10),
			Value: &spb.Payload_Metric_DoubleValue{DoubleValue: 1}},
	}}
	birthBytes, _ := proto.Marshal(birth)

	type msg struct {
		topic   string
		payload []byte
	}
	var msgs []msg
	add := func(topic string, payload []byte) { msgs = append(msgs, msg{topic, payload}) }
	wantReject := map[ingest.Reason]float64{}
	valid := 0
	add(spTopic("NBIRTH"), birthBytes)
	valid++ // the birth certificate's own value
	for i := range 5 {
		w := time.Duration(i) * time.Second
		// Bad JSON batches of every kind.
		add(jsonTopic, []byte(`{"ts":`+fmt.Sprint(ms(w))+`,"readings":[{"sensor":"`+sensor+`","value":1`))
		wantReject[ingest.ReasonMalformed]++
		add(jsonTopic, append([]byte{0x00, 0xff, 0xfe}, bytes.Repeat([]byte{0x9c}, 64)...))
		wantReject[ingest.ReasonMalformed]++
		add(jsonTopic, []byte(`{"ts":`+fmt.Sprint(ms(w))+`,"readings":[{"sensor":"`+sensor+`","value":"high"}]}`))
		wantReject[ingest.ReasonBadValue]++
		add(jsonTopic, []byte(`{"ts":`+fmt.Sprint(ms(w))+`,"readings":[{"sensor":"NO-SUCH-`+fmt.Sprint(i)+`","value":1},{"sensor":"`+sensor+`","value":2,"ts":`+fmt.Sprint(ms(w+10*time.Millisecond))+`}]}`))
		wantReject[ingest.ReasonUnknownSensor]++
		valid++
		add(jsonTopic, []byte(`{"ts":`+fmt.Sprint(ms(w))+`,"readings":[{"sensor":"`+sensor+`","value":NaN}]}`))
		wantReject[ingest.ReasonNotFinite]++
		add(jsonTopic, []byte(`{"ts":`+fmt.Sprint(ms(w+240*time.Hour))+`,"readings":[{"sensor":"`+sensor+`","value":1}]}`))
		wantReject[ingest.ReasonFuture]++
		add(jsonTopic, []byte(`{"ts":`+fmt.Sprint(ms(w))+`,"readings":[{"sensor":"`+sensor+`","value":1}],"pad":"`+strings.Repeat("x", 300<<10)+`"}`))
		wantReject[ingest.ReasonTooLarge]++
		add(jsonTopic, []byte(`{"ts":`+fmt.Sprint(ms(w))+`,"readings":[{"sensor":"`+strings.Repeat("S", 200)+`","value":1}]}`))
		wantReject[ingest.ReasonSensorTooLong]++
		// Line protocol: a bad line between two good ones.
		add(lpTopic, []byte(fmt.Sprintf("x,sensor=%s value=3 %d\nx,sensor=%s value=\"str\" %d\nx,sensor=%s value=4 %d\n",
			sensor, ms(w+20*time.Millisecond)*1e6, sensor, ms(w+21*time.Millisecond)*1e6, sensor, ms(w+22*time.Millisecond)*1e6)))
		wantReject[ingest.ReasonBadValue]++
		valid += 2
		// Sparkplug: a broken protobuf, then a good NDATA by alias.
		add(spTopic("NDATA"), []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01})
		wantReject[ingest.ReasonMalformedSpB]++
		data := &spb.Payload{Timestamp: proto.Uint64(uint64(ms(w))), Seq: proto.Uint64(uint64(i + 1)),
			Metrics: []*spb.Payload_Metric{metric(7, 5, ms(w+30*time.Millisecond))}}
		b, _ := proto.Marshal(data)
		add(spTopic("NDATA"), b)
		valid++
	}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(r.mosq.URL).SetClientID("bad-actor"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(50)
	for _, m := range msgs {
		if tok := c.Publish(m.topic, 1, false, m.payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
		time.Sleep(20 * time.Millisecond) // spread through the valid stream
	}

	st := ru.wait(t)
	// The simulator's own malformed messages, one of each kind in turn.
	simBad := map[ingest.Reason]float64{ingest.ReasonMalformed: 4, ingest.ReasonBadValue: 2, ingest.ReasonBadSchema: 2, ingest.ReasonEmptyBatch: 2}
	for k, v := range simBad {
		wantReject[k] += v
	}
	want := st.Readings + int64(valid)
	var n int64
	deadline := time.Now().Add(time.Minute)
	for {
		n = r.landed(&run{start: now.Add(-time.Hour)}, want, 10*time.Second)
		if n >= want || time.Now().After(deadline) {
			break
		}
	}
	var rejected float64
	var lines []string
	for _, reason := range ingest.AllReasons() {
		got := svcRejected(svc, reason)
		rejected += got
		if got != wantReject[reason] {
			t.Errorf("rejected[%s] = %v, want %v", reason, got, wantReject[reason])
		}
		if got > 0 {
			lines = append(lines, fmt.Sprintf("%s=%v", reason, got))
		}
	}
	report(t, "malformed input interleaved with valid traffic", st, n-int64(valid),
		fmt.Sprintf("%d valid line-protocol/Sparkplug/JSON extras; rejected by reason: %s; dead letters %d", valid, strings.Join(lines, " "), svc.Stats().DeadLetters))
	if n != want {
		t.Errorf("InfluxDB holds %d readings, want %d", n, want)
	}
	if float64(svc.Stats().DeadLetters) != rejected {
		t.Errorf("dead letters %d, rejections counted %v", svc.Stats().DeadLetters, rejected)
	}
}
