package ingest

import (
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/riskmon/riskmon/protocol/sparkplug/spb"
	"github.com/riskmon/riskmon/sensors"
)

func TestProcessSparkplugAndStatus(t *testing.T) {
	m := NewMetrics(nil)
	dl, _ := OpenDeadLetter(DeadLetterOptions{})
	p := NewProcessor(testRegistry(t), Limits{}, NewRejecter(m, dl, slog.New(slog.DiscardHandler), time.Minute), m, nil)
	now := time.UnixMilli(1764345600000)
	ts := uint64(now.Add(-time.Second).UnixMilli())
	birth, _ := proto.Marshal(&spb.Payload{Timestamp: proto.Uint64(ts), Seq: proto.Uint64(0), Metrics: []*spb.Payload_Metric{
		{Name: proto.String("bdSeq"), Datatype: proto.Uint32(8), Value: &spb.Payload_Metric_LongValue{LongValue: 3}},
		{Name: proto.String("GT-101"), Alias: proto.Uint64(1), Datatype: proto.Uint32(10), Value: &spb.Payload_Metric_DoubleValue{DoubleValue: 4}},
	}})
	data := func(seq uint64, alias uint64) []byte {
		b, _ := proto.Marshal(&spb.Payload{Timestamp: proto.Uint64(ts + seq), Seq: proto.Uint64(seq), Metrics: []*spb.Payload_Metric{
			{Alias: proto.Uint64(alias), Value: &spb.Payload_Metric_DoubleValue{DoubleValue: 6}}}})
		return b
	}
	death, _ := proto.Marshal(&spb.Payload{Timestamp: proto.Uint64(ts), Metrics: []*spb.Payload_Metric{
		{Name: proto.String("bdSeq"), Datatype: proto.Uint32(8), Value: &spb.Payload_Metric_LongValue{LongValue: 3}}}})

	steps := []struct {
		name, topic string
		payload     []byte
		readings    int
		events      []sensors.GatewayEventKind
		commands    int
	}{
		{"NBIRTH: online and its value", "spBv1.0/hz-01/NBIRTH/gw-1", birth, 1, []sensors.GatewayEventKind{sensors.GatewayOnline}, 0},
		{"NDATA by alias", "spBv1.0/hz-01/NDATA/gw-1", data(1, 1), 1, nil, 0},
		{"seq gap of two", "spBv1.0/hz-01/NDATA/gw-1", data(4, 1), 1, []sensors.GatewayEventKind{sensors.GatewaySeqGap}, 0},
		{"unknown alias asks for a rebirth", "spBv1.0/hz-01/NDATA/gw-1", data(5, 9), 0, nil, 1},
		{"NDEATH: offline", "spBv1.0/hz-01/NDEATH/gw-1", death, 0, []sensors.GatewayEventKind{sensors.GatewayOffline}, 0},
		{"unknown group refused", "spBv1.0/nowhere/NBIRTH/gw-1", birth, 0, nil, 0},
		{"STATE ignored", "spBv1.0/STATE/scada-1", []byte(`{"online":true}`), 0, nil, 0},
		{"status offline", "riskmon/v1/hz-01/gw-2/status", []byte("offline"), 0, []sensors.GatewayEventKind{sensors.GatewayOffline}, 0},
		{"status online", "riskmon/v1/hz-01/gw-2/status", []byte("online\n"), 0, []sensors.GatewayEventKind{sensors.GatewayOnline}, 0},
		{"status garbage", "riskmon/v1/hz-01/gw-2/status", []byte("maybe"), 0, nil, 0},
		{"json seq 1", "riskmon/v1/hz-01/gw-1/readings", []byte(`{"ts":1764345599000,"seq":1,"readings":[{"sensor":"GT-101","value":1}]}`), 1, nil, 0},
		{"json seq 5: three missing, the gap waits for them", "riskmon/v1/hz-01/gw-1/readings", []byte(`{"ts":1764345599001,"seq":5,"readings":[{"sensor":"GT-101","value":1}]}`), 1, nil, 0},
		{"json seq 5 again: redelivery", "riskmon/v1/hz-01/gw-1/readings", []byte(`{"ts":1764345599001,"seq":5,"readings":[{"sensor":"GT-101","value":1}]}`), 1, nil, 0},
		{"same time, other value: a conflict", "riskmon/v1/hz-01/gw-1/readings", []byte(`{"ts":1764345599001,"seq":6,"readings":[{"sensor":"GT-101","value":2}]}`), 1, nil, 0},
		{"historical kept", "riskmon/v1/hz-01/gw-1/readings", []byte(`{"ts":1764345590000,"seq":7,"historical":true,"readings":[{"sensor":"GT-101","value":1}]}`), 1, nil, 0},
	}
	for _, st := range steps {
		out := p.Process(st.topic, st.payload, now)
		if len(out.Readings) != st.readings || len(out.Commands) != st.commands || len(out.Events) != len(st.events) {
			t.Fatalf("%s: %d readings %d commands %d events (%+v), want %d %d %d", st.name, len(out.Readings), len(out.Commands), len(out.Events), out.Events, st.readings, st.commands, len(st.events))
		}
		for i, k := range st.events {
			if out.Events[i].Kind != k {
				t.Fatalf("%s: event %d is %s, want %s", st.name, i, out.Events[i].Kind, k)
			}
		}
		if st.name == "historical kept" && !out.Readings[0].Historical {
			t.Fatal("historical flag lost")
		}
		for _, r := range out.Readings {
			if r.Received != now {
				t.Fatalf("%s: received time not set", st.name)
			}
		}
	}
	for reason, want := range map[Reason]float64{ReasonUnknownAlias: 1, ReasonUnknownSite: 1, ReasonBadStatus: 1} {
		if got := testutil.ToFloat64(m.Rejected(reason)); got != want {
			t.Errorf("rejected[%s] = %v, want %v", reason, got, want)
		}
	}
	if got := testutil.ToFloat64(m.Conflicts); got != 1 {
		t.Errorf("conflicts = %v, want 1", got)
	}
	// The JSON gap is lost once it has been open for the grace period.
	if out := p.Expire(now.Add(DefaultSeqGrace - time.Millisecond)); len(out.Events) != 0 {
		t.Fatalf("gap reported before its grace period ran out: %+v", out.Events)
	}
	out := p.Expire(now.Add(DefaultSeqGrace))
	if len(out.Events) != 1 || out.Events[0].Kind != sensors.GatewaySeqGap || out.Events[0].Missing != 3 || out.Events[0].Gateway != "gw-1" {
		t.Fatalf("after the grace period: %+v, want one seq gap of 3 for gw-1", out.Events)
	}
	if got := testutil.ToFloat64(m.SeqGaps); got != 5 {
		t.Errorf("seq gap messages = %v, want 5 (2 Sparkplug + 3 JSON)", got)
	}
}

// TestSparkplugTagPaths: an Ignition-style edge node publishes folder-path
// metric names on devices built from one template. Registered addresses
// map each device's tag to its own sensor; a name that two devices share
// and the registry gives no address is refused for the second device;
// String tags and tags of no sensor are counted, not parked, unless
// limits.dead_letter_unmonitored; DDEATH and DBIRTH report the device.
func TestSparkplugTagPaths(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{
			{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "edge-1", Sparkplug: "skid-1/Gas/GT-101"},
			{ID: "GT-102", Site: "hz-01", Kind: "combustible_gas", Gateway: "edge-1", Sparkplug: "skid-2/Gas/GT-101"},
			{ID: "LT-1", Site: "hz-01", Kind: "tank_level", Gateway: "edge-1", Sparkplug: "/Tank1/Level"},
			{ID: "PT-1", Site: "hz-01", Kind: "pressure", Gateway: "edge-1"},
		})
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1764345600000)
	ms := uint64(now.UnixMilli())
	metric := func(name string, v any) *spb.Payload_Metric {
		m := &spb.Payload_Metric{Name: proto.String(name)}
		switch v := v.(type) {
		case float64:
			m.Datatype, m.Value = proto.Uint32(10), &spb.Payload_Metric_DoubleValue{DoubleValue: v}
		case string:
			m.Datatype, m.Value = proto.Uint32(12), &spb.Payload_Metric_StringValue{StringValue: v}
		}
		return m
	}
	msg := func(seq uint64, metrics ...*spb.Payload_Metric) []byte {
		b, _ := proto.Marshal(&spb.Payload{Timestamp: proto.Uint64(ms), Seq: proto.Uint64(seq), Metrics: metrics})
		return b
	}
	for _, deadLetterAll := range []bool{false, true} {
		m := NewMetrics(nil)
		dl, _ := OpenDeadLetter(DeadLetterOptions{})
		p := NewProcessor(reg, Limits{DeadLetterUnmonitored: deadLetterAll}, NewRejecter(m, dl, slog.New(slog.DiscardHandler), time.Minute), m, nil)
		p.Process("spBv1.0/hz-01/NBIRTH/edge-1", msg(0, metric("bdSeq", 1.0), metric("Tank1/Level", 3.5), metric("Site/Name", "north farm")), now)
		if got := p.out.Readings; len(got) != 1 || got[0].Sensor != "LT-1" || got[0].Value != 3.5 {
			t.Fatalf("NBIRTH readings %+v, want LT-1 = 3.5 by its node address", got)
		}
		p.Process("spBv1.0/hz-01/DBIRTH/edge-1/skid-1", msg(1, metric("Gas/GT-101", 11.0), metric("PT-1", 1.5), metric("Gas/Unit", "%LEL")), now)
		got := map[string]float64{}
		for _, r := range p.out.Readings {
			got[r.Sensor] = r.Value
		}
		if len(got) != 2 || got["GT-101"] != 11 || got["PT-1"] != 1.5 {
			t.Fatalf("skid-1 DBIRTH readings %v, want GT-101 = 11 and PT-1 = 1.5", got)
		}
		if ev := p.out.Events; len(ev) != 1 || ev[0].Kind != sensors.DeviceOnline || ev[0].Device != "skid-1" {
			t.Fatalf("skid-1 DBIRTH events %+v, want skid-1 online", ev)
		}
		// skid-2 is the same template: same metric names.
		p.Process("spBv1.0/hz-01/DBIRTH/edge-1/skid-2", msg(2, metric("Gas/GT-101", 22.0), metric("PT-1", 2.5), metric("Unregistered/Tag", 1.0)), now)
		got = map[string]float64{}
		for _, r := range p.out.Readings {
			got[r.Sensor] = r.Value
		}
		if len(got) != 1 || got["GT-102"] != 22 {
			t.Fatalf("skid-2 DBIRTH readings %v, want GT-102 = 22 alone (its PT-1 collides with skid-1's)", got)
		}
		p.Process("spBv1.0/hz-01/DDEATH/edge-1/skid-2", msg(3), now)
		if ev := p.out.Events; len(ev) != 1 || ev[0].Kind != sensors.DeviceOffline || ev[0].Device != "skid-2" || ev[0].Gateway != "edge-1" {
			t.Fatalf("DDEATH events %+v, want one device offline for skid-2", ev)
		}
		if got := testutil.ToFloat64(m.Rejected(ReasonAddressCollision)); got != 1 {
			t.Errorf("address collisions = %v, want 1", got)
		}
		unmon := testutil.ToFloat64(m.Unmonitored(ReasonUnsupported)) + testutil.ToFloat64(m.Unmonitored(ReasonUnknownSensor))
		parked := testutil.ToFloat64(m.Rejected(ReasonUnsupported)) + testutil.ToFloat64(m.Rejected(ReasonUnknownSensor))
		if deadLetterAll {
			if unmon != 0 || parked != 3 {
				t.Errorf("dead_letter_unmonitored: %v counted, %v parked; want 0 and 3", unmon, parked)
			}
		} else if unmon != 3 || parked != 0 || dl.Total() != 1 {
			t.Errorf("%v unmonitored, %v rejected, %d dead letters; want 3 counted, none rejected, only the collision parked", unmon, parked, dl.Total())
		}
	}
}
