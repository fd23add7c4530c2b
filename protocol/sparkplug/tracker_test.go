package sparkplug

import (
	"errors"
	"fmt"
	"github.com/riskmon/riskmon/protocol"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/riskmon/riskmon/protocol/sparkplug/spb"
	"google.golang.org/protobuf/proto"
)

// want is the expected protocol.Reading of a metric; a zero ms means the
// payload's timestamp.
type want struct {
	sensor     string
	value      float64
	reject     string
	historical bool
	ms         int64
}

func checkReadings(t *testing.T, got []protocol.Reading, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d readings %+v, want %d", len(got), got, len(wants))
	}
	for i, w := range wants {
		g := got[i]
		if g.Reject != w.reject || g.Sensor != w.sensor {
			t.Errorf("reading %d: sensor %q reject %q (%s), want sensor %q reject %q", i, g.Sensor, g.Reject, g.Detail, w.sensor, w.reject)
			continue
		}
		if w.reject != "" {
			if g.Detail == "" {
				t.Errorf("reading %d rejected without detail", i)
			}
			continue
		}
		ms := w.ms
		if ms == 0 {
			ms = baseMS
		}
		if g.Value != w.value || g.Historical != w.historical || g.Time.UnixMilli() != ms || g.Detail != "" {
			t.Errorf("reading %d = %+v, want %+v", i, g, w)
		}
	}
}

// TestTrackerSession runs one edge node through a session, step by step:
// each step depends on the state the earlier ones left.
func TestTrackerSession(t *testing.T) {
	const (
		node  = "spBv1.0/hz-01/%s/gw-1"
		dev   = "spBv1.0/hz-01/%s/gw-1/pump-1"
		other = "spBv1.0/hz-01/%s/gw-1/pump-2"
	)
	t0 := time.Unix(1764345600, 0)
	steps := []struct {
		name    string
		at      time.Duration // since t0, for the rebirth backoff
		topic   string        // with %s for the message type
		typ     MessageType
		payload *spb.Payload
		event   Event
		gap     int
		rebirth bool
		stale   bool
		device  string
		want    []want
	}{
		{
			name: "data before any birth", at: 0, topic: node, typ: NDATA,
			payload: pl(7, m("", 1, dtUnknown, 1.0), m("TT-9", -1, dtDouble, 2.0)),
			rebirth: true,
			want:    []want{{reject: ReasonUnknownAlias}, {sensor: "TT-9", value: 2}},
		},
		{
			name: "rebirth is not asked again within the backoff", at: 5 * time.Second, topic: node, typ: NDATA,
			payload: pl(8, m("", 1, dtUnknown, 1.0)),
			want:    []want{{reject: ReasonUnknownAlias}},
		},
		{
			name: "NBIRTH defines aliases", at: 6 * time.Second, topic: node, typ: NBIRTH,
			payload: pl(0,
				bdSeqMetric(3),
				m("Node Control/Rebirth", 0, dtBoolean, false),
				m("Properties/Hardware", 100, dtString, "S7-1500"),
				m("GT-101", 1, dtDouble, 12.5),
				m("PT-201", 2, dtFloat, float32(1.5)),
				m("LT-301", 3, dtInt16, uint32(0xFFFF)),
				m("XS-401", 4, dtBoolean, true),
				m("NAME", 5, dtString, "tank"),
				null(m("FT-501", 6, dtDouble, nil)),
			),
			event: EventOnline,
			want: []want{
				{sensor: "GT-101", value: 12.5},
				{sensor: "PT-201", value: 1.5},
				{sensor: "LT-301", value: -1},
				{sensor: "XS-401", value: 1},
				{sensor: "NAME", reject: ReasonUnsupportedType},
				{sensor: "FT-501", reject: ReasonNullValue},
			},
		},
		{
			name: "data by alias takes the birth's datatype", at: 7 * time.Second, topic: node, typ: NDATA,
			payload: pl(1, m("", 1, dtUnknown, 13.0), m("", 3, dtUnknown, uint32(0xFFFE)), m("", 4, dtUnknown, false), m("", 0, dtUnknown, true)),
			want:    []want{{sensor: "GT-101", value: 13}, {sensor: "LT-301", value: -2}, {sensor: "XS-401", value: 0}},
		},
		{
			name: "a lost message shows as a gap", at: 8 * time.Second, topic: node, typ: NDATA,
			payload: pl(3, m("", 1, dtUnknown, 14.0)),
			gap:     1,
			want:    []want{{sensor: "GT-101", value: 14}},
		},
		{
			name: "a long gap", at: 9 * time.Second, topic: node, typ: NDATA,
			payload: pl(254, m("", 1, dtUnknown, 15.0)),
			gap:     250,
			want:    []want{{sensor: "GT-101", value: 15}},
		},
		{
			name: "255 in order", at: 10 * time.Second, topic: node, typ: NDATA,
			payload: pl(255, m("", 2, dtUnknown, float32(2.5))),
			want:    []want{{sensor: "PT-201", value: 2.5}},
		},
		{
			name: "gap across the wrap: 0 is missing", at: 11 * time.Second, topic: node, typ: NDATA,
			payload: pl(1, m("", 1, dtUnknown, 16.0)),
			gap:     1,
			want:    []want{{sensor: "GT-101", value: 16}},
		},
		{
			name: "jump ahead", at: 12 * time.Second, topic: node, typ: NDATA,
			payload: pl(250, m("", 1, dtUnknown, 16.5)),
			gap:     248,
			want:    []want{{sensor: "GT-101", value: 16.5}},
		},
		{
			name: "longer gap across the wrap: 251..255 and 0 are missing", at: 13 * time.Second, topic: node, typ: NDATA,
			payload: pl(1, m("", 1, dtUnknown, 16.75)),
			gap:     6,
			want:    []want{{sensor: "GT-101", value: 16.75}},
		},
		{
			name: "unknown alias after the backoff asks for a rebirth", at: 20 * time.Second, topic: node, typ: NDATA,
			payload: pl(2, m("", 99, dtDouble, 1.0), m("", 1, dtUnknown, 17.0)),
			rebirth: true,
			want:    []want{{reject: ReasonUnknownAlias}, {sensor: "GT-101", value: 17}},
		},
		{
			name: "historical values keep their own time", at: 21 * time.Second, topic: node, typ: NDATA,
			payload: pl(3, historical(withTS(m("", 1, dtUnknown, 11.0), baseMS-60000)), m("GT-101", -1, dtUnknown, 18.0)),
			want:    []want{{sensor: "GT-101", value: 11, historical: true, ms: baseMS - 60000}, {sensor: "GT-101", value: 18}},
		},
		{
			name: "DBIRTH has its own aliases", at: 22 * time.Second, topic: dev, typ: DBIRTH, device: "pump-1",
			payload: pl(4, m("FT-301", 1, dtUInt32, uint32(42)), m("VT-302", 2, dtInt8, uint32(0xFFFFFFFE)), m("Properties/Model", 3, dtString, "P-100")),
			event:   EventOnline,
			want:    []want{{sensor: "FT-301", value: 42}, {sensor: "VT-302", value: -2}},
		},
		{
			name: "DDATA by alias", at: 23 * time.Second, topic: dev, typ: DDATA, device: "pump-1",
			payload: pl(5, m("", 1, dtUnknown, uint32(43)), m("", 2, dtUnknown, uint32(0x80))),
			want:    []want{{sensor: "FT-301", value: 43}, {sensor: "VT-302", value: -128}},
		},
		{
			name: "NDATA still uses the node's aliases", at: 24 * time.Second, topic: node, typ: NDATA,
			payload: pl(6, m("", 1, dtUnknown, 19.0)),
			want:    []want{{sensor: "GT-101", value: 19}},
		},
		{
			name: "DDATA of a device without DBIRTH", at: 31 * time.Second, topic: other, typ: DDATA, device: "pump-2",
			payload: pl(7, m("", 1, dtUnknown, uint32(1))),
			rebirth: true,
			want:    []want{{reject: ReasonUnknownAlias}},
		},
		{
			name: "DDEATH", at: 32 * time.Second, topic: dev, typ: DDEATH, device: "pump-1",
			payload: pl(8),
			event:   EventOffline,
		},
		{
			name: "DDATA after DDEATH", at: 33 * time.Second, topic: dev, typ: DDATA, device: "pump-1",
			payload: pl(9, m("", 1, dtUnknown, uint32(44))),
			want:    []want{{reject: ReasonUnknownAlias}},
		},
		{
			name: "NDEATH of an older session is stale", at: 34 * time.Second, topic: node, typ: NDEATH,
			payload: pl(-1, bdSeqMetric(2)),
			stale:   true,
		},
		{
			name: "node still online after the stale death", at: 35 * time.Second, topic: node, typ: NDATA,
			payload: pl(10, m("", 1, dtUnknown, 20.0)),
			want:    []want{{sensor: "GT-101", value: 20}},
		},
		{
			name: "NDEATH of this session", at: 36 * time.Second, topic: node, typ: NDEATH,
			payload: pl(-1, bdSeqMetric(3)),
			event:   EventOffline,
		},
		{
			name: "data after death", at: 45 * time.Second, topic: node, typ: NDATA,
			payload: pl(11, m("", 1, dtUnknown, 21.0)),
			rebirth: true,
			want:    []want{{reject: ReasonUnknownAlias}},
		},
		{
			name: "new session", at: 46 * time.Second, topic: node, typ: NBIRTH,
			payload: pl(0, bdSeqMetric(4), m("GT-101", 7, dtDouble, 22.0)),
			event:   EventOnline,
			want:    []want{{sensor: "GT-101", value: 22}},
		},
		{
			name: "old aliases are gone, new ones work", at: 47 * time.Second, topic: node, typ: NDATA,
			payload: pl(1, m("", 7, dtUnknown, 23.0), m("", 1, dtUnknown, 0.0)),
			want:    []want{{sensor: "GT-101", value: 23}, {reject: ReasonUnknownAlias}},
		},
		{
			name: "devices of the old session are gone", at: 48 * time.Second, topic: dev, typ: DDATA, device: "pump-1",
			payload: pl(2, m("", 1, dtUnknown, uint32(45))),
			gap:     0,
			want:    []want{{reject: ReasonUnknownAlias}},
		},
	}
	tr := NewTracker()
	for _, s := range steps {
		topic := fmt.Sprintf(s.topic, s.typ)
		res, err := tr.Handle(topic, marshal(t, s.payload), t0.Add(s.at))
		if err != nil {
			t.Fatalf("%s: Handle(%s) error = %v", s.name, topic, err)
		}
		if res.Site != "hz-01" || res.Gateway != "gw-1" || res.Device != s.device || res.Type != s.typ {
			t.Errorf("%s: result names %s/%s/%s %v, want hz-01/gw-1/%s %v", s.name, res.Site, res.Gateway, res.Device, res.Type, s.device, s.typ)
		}
		if res.Event != s.event || res.SeqGap != s.gap || res.NeedRebirth != s.rebirth || res.StaleDeath != s.stale {
			t.Errorf("%s: event %v gap %d rebirth %v stale %v, want %v %d %v %v", s.name, res.Event, res.SeqGap, res.NeedRebirth, res.StaleDeath, s.event, s.gap, s.rebirth, s.stale)
		}
		t.Run(s.name, func(t *testing.T) { checkReadings(t, res.Readings, s.want) })
	}
}

func TestDBIRTHBeforeNBIRTH(t *testing.T) {
	tr := NewTracker()
	res, err := tr.Handle("spBv1.0/g/DBIRTH/e/d", marshal(t, pl(3, m("A", 1, dtDouble, 1.0))), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !res.NeedRebirth || res.Event != EventOnline {
		t.Fatalf("result %+v, want NeedRebirth and the device online", res)
	}
	checkReadings(t, res.Readings, []want{{sensor: "A", value: 1}})
	// The device's own aliases work even so.
	res, err = tr.Handle("spBv1.0/g/DDATA/e/d", marshal(t, pl(4, m("", 1, dtUnknown, 2.0))), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	checkReadings(t, res.Readings, []want{{sensor: "A", value: 2}})
}

func TestNDEATHWithoutBirth(t *testing.T) {
	// After a restart riskmon has seen no NBIRTH; a death is believed.
	res, err := NewTracker().Handle("spBv1.0/g/NDEATH/e", marshal(t, pl(-1, bdSeqMetric(9))), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res.Event != EventOffline || res.StaleDeath || len(res.Readings) != 0 {
		t.Fatalf("result %+v, want the node offline and no readings", res)
	}
}

func TestNodesAreIndependent(t *testing.T) {
	tr := NewTracker()
	now := time.Now()
	for _, topic := range []string{"spBv1.0/g1/NBIRTH/e", "spBv1.0/g2/NBIRTH/e", "spBv1.0/g1/NBIRTH/f"} {
		if _, err := tr.Handle(topic, marshal(t, pl(0, m("A", 1, dtDouble, 1.0))), now); err != nil {
			t.Fatal(err)
		}
	}
	// Each node's seq continues from its own birth.
	for _, topic := range []string{"spBv1.0/g1/NDATA/e", "spBv1.0/g2/NDATA/e", "spBv1.0/g1/NDATA/f"} {
		res, err := tr.Handle(topic, marshal(t, pl(1, m("", 1, dtUnknown, 2.0))), now)
		if err != nil {
			t.Fatal(err)
		}
		if res.SeqGap != 0 || res.NeedRebirth {
			t.Errorf("%s: gap %d rebirth %v, want neither", topic, res.SeqGap, res.NeedRebirth)
		}
	}
}

// TestTrackerConcurrent is for the race detector: one goroutine per edge
// node, as the caller routes them.
func TestTrackerConcurrent(t *testing.T) {
	tr := NewTracker()
	birth := marshal(t, pl(0, bdSeqMetric(1), m("A", 1, dtDouble, 1.0)))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			edge := fmt.Sprintf("e%d", i)
			if _, err := tr.Handle("spBv1.0/g/NBIRTH/"+edge, birth, time.Now()); err != nil {
				t.Error(err)
				return
			}
			for seq := 1; seq < 300; seq++ {
				res, err := tr.Handle("spBv1.0/g/NDATA/"+edge, marshal(t, pl(seq%256, m("", 1, dtUnknown, float64(seq)))), time.Now())
				if err != nil || res.SeqGap != 0 || len(res.Readings) != 1 || res.Readings[0].Reject != "" {
					t.Errorf("%s seq %d: %+v, %v", edge, seq, res, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestMetricConversion(t *testing.T) {
	template := &spb.Payload_Template{TemplateRef: proto.String("Motor")}
	definition := &spb.Payload_Template{IsDefinition: proto.Bool(true)}
	tests := []struct {
		name   string
		metric *spb.Payload_Metric
		want   []want // empty: the metric is not a reading
	}{
		{"Int8 sign-extended in int_value", m("s", -1, dtInt8, uint32(0xFFFFFF80)), []want{{sensor: "s", value: -128}}},
		{"Int8 in its own byte", m("s", -1, dtInt8, uint32(0x80)), []want{{sensor: "s", value: -128}}},
		{"Int16 in long_value", m("s", -1, dtInt16, uint64(0xFFFFFFFFFFFF8000)), []want{{sensor: "s", value: -32768}}},
		{"Int32", m("s", -1, dtInt32, uint32(0xFFFFFFFF)), []want{{sensor: "s", value: -1}}},
		{"Int64", m("s", -1, dtInt64, uint64(math.MaxUint64)), []want{{sensor: "s", value: -1}}},
		{"Int64 in int_value", m("s", -1, dtInt64, uint32(0xFFFFFFFF)), []want{{sensor: "s", value: -1}}},
		{"UInt8", m("s", -1, dtUInt8, uint32(255)), []want{{sensor: "s", value: 255}}},
		{"UInt16", m("s", -1, dtUInt16, uint32(65535)), []want{{sensor: "s", value: 65535}}},
		{"UInt32 in int_value", m("s", -1, dtUInt32, uint32(math.MaxUint32)), []want{{sensor: "s", value: math.MaxUint32}}},
		{"UInt32 in long_value", m("s", -1, dtUInt32, uint64(math.MaxUint32)), []want{{sensor: "s", value: math.MaxUint32}}},
		{"UInt64", m("s", -1, dtUInt64, uint64(1<<63)), []want{{sensor: "s", value: 1 << 63}}},
		{"Float", m("s", -1, dtFloat, float32(-0.5)), []want{{sensor: "s", value: -0.5}}},
		{"Double", m("s", -1, dtDouble, 1e300), []want{{sensor: "s", value: 1e300}}},
		{"Boolean", m("s", -1, dtBoolean, true), []want{{sensor: "s", value: 1}}},
		{"no datatype, double", m("s", -1, dtUnknown, 2.5), []want{{sensor: "s", value: 2.5}}},
		{"no datatype, int_value read unsigned", m("s", -1, dtUnknown, uint32(0xFFFFFFFF)), []want{{sensor: "s", value: math.MaxUint32}}},
		{"Float NaN", m("s", -1, dtFloat, float32(math.NaN())), []want{{sensor: "s", reject: ReasonNotFinite}}},
		{"Double +Inf", m("s", -1, dtDouble, math.Inf(1)), []want{{sensor: "s", reject: ReasonNotFinite}}},
		{"null", null(m("s", -1, dtDouble, nil)), []want{{sensor: "s", reject: ReasonNullValue}}},
		{"null with a value", null(m("s", -1, dtDouble, 1.0)), []want{{sensor: "s", reject: ReasonNullValue}}},
		{"no value", m("s", -1, dtDouble, nil), []want{{sensor: "s", reject: ReasonBadValue}}},
		{"String", m("s", -1, dtString, "on"), []want{{sensor: "s", reject: ReasonUnsupportedType}}},
		{"Text", m("s", -1, dtText, "on"), []want{{sensor: "s", reject: ReasonUnsupportedType}}},
		{"DateTime", m("s", -1, dtDateTime, uint64(baseMS)), []want{{sensor: "s", reject: ReasonUnsupportedType}}},
		{"Bytes", m("s", -1, dtBytes, []byte{1, 2}), []want{{sensor: "s", reject: ReasonUnsupportedType}}},
		{"DataSet", m("s", -1, dtDataSet, &spb.Payload_DataSet{NumOfColumns: proto.Uint64(0)}), []want{{sensor: "s", reject: ReasonUnsupportedType}}},
		{"Template instance", m("s", -1, dtTemplate, template), []want{{sensor: "s", reject: ReasonUnsupportedType}}},
		{"Double datatype with a string value", m("s", -1, dtDouble, "1.5"), []want{{sensor: "s", reject: ReasonUnsupportedType}}},
		{"no datatype, bytes value", m("s", -1, dtUnknown, []byte("x")), []want{{sensor: "s", reject: ReasonUnsupportedType}}},
		{"array datatype", m("s", -1, 31, []byte{0, 0, 0, 0, 0, 0, 0, 0}), []want{{sensor: "s", reject: ReasonUnsupportedType}}},
		{"timestamp out of range", withTS(m("s", -1, dtDouble, 1.0), math.MaxUint64), []want{{sensor: "s", reject: ReasonBadTimestamp}}},
		{"own timestamp", withTS(m("s", -1, dtDouble, 1.0), baseMS+1), []want{{sensor: "s", value: 1, ms: baseMS + 1}}},
		{"no name", m("", 1, dtDouble, 1.0), []want{{reject: ReasonMissingSensor}}},
		{"template definition is not a reading", m("_types_/Motor", -1, dtTemplate, definition), nil},
		{"node control is not a reading", m("Node Control/Next Server", -1, dtBoolean, false), nil},
		{"properties are not readings", m("Properties/Serial", -1, dtString, "x"), nil},
		{"bdSeq is not a reading", bdSeqMetric(1), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Once in a birth, which names the metric, and once in data
			// without a birth, to run both paths.
			tr := NewTracker()
			res, err := tr.Handle("spBv1.0/g/NBIRTH/e", marshal(t, pl(0, tt.metric)), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			checkReadings(t, res.Readings, tt.want)
			if tt.metric.GetName() == "" {
				return // by alias: covered by TestTrackerSession
			}
			res, err = NewTracker().Handle("spBv1.0/g/NDATA/e", marshal(t, pl(1, tt.metric)), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			checkReadings(t, res.Readings, tt.want)
		})
	}
}

func TestMissingTimestamp(t *testing.T) {
	p := pl(0, m("s", -1, dtDouble, 1.0), withTS(m("t", -1, dtDouble, 2.0), baseMS))
	p.Timestamp = nil
	res, err := NewTracker().Handle("spBv1.0/g/NBIRTH/e", marshal(t, p), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	checkReadings(t, res.Readings, []want{{sensor: "s", reject: ReasonNoTimestamp}, {sensor: "t", value: 2}})
}

func TestHandleMessageErrors(t *testing.T) {
	good := marshal(t, pl(0, m("s", -1, dtDouble, 1.0)))
	tests := []struct {
		name    string
		topic   string
		payload []byte
		want    string
	}{
		{"riskmon topic", "riskmon/v1/hz-01/gw-1/readings", good, ReasonBadTopic},
		{"unknown message type", "spBv1.0/g/NFOO/e", good, ReasonBadTopic},
		{"lower-case type", "spBv1.0/g/ndata/e", good, ReasonBadTopic},
		{"missing edge node", "spBv1.0/g/NDATA", good, ReasonBadTopic},
		{"empty edge node", "spBv1.0/g/NDATA/", good, ReasonBadTopic},
		{"device message without device", "spBv1.0/g/DDATA/e", good, ReasonBadTopic},
		{"node message with device", "spBv1.0/g/NDATA/e/d", good, ReasonBadTopic},
		{"six levels", "spBv1.0/g/DDATA/e/d/x", good, ReasonBadTopic},
		{"STATE as a message type", "spBv1.0/g/STATE/e", good, ReasonBadTopic},
		{"garbage payload", "spBv1.0/g/NDATA/e", []byte{0xff, 0xff, 0xff}, ReasonMalformed},
		{"truncated payload", "spBv1.0/g/NDATA/e", good[:len(good)-1], ReasonMalformed},
		{"JSON payload", "spBv1.0/g/NBIRTH/e", []byte(`{"ts":1,"readings":[]}`), ReasonMalformed},
		{"seq above 255", "spBv1.0/g/NDATA/e", marshal(t, pl(256)), ReasonBadSchema},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewTracker().Handle(tt.topic, tt.payload, time.Now())
			var e *protocol.Error
			if !errors.As(err, &e) {
				t.Fatalf("Handle error = %v, want an *protocol.Error", err)
			}
			if e.Reason != tt.want || e.Msg == "" {
				t.Fatalf("error %v, want reason %s", err, tt.want)
			}
		})
	}
}

func TestCommandsAndStateAreNotDecoded(t *testing.T) {
	tests := []struct {
		topic string
		typ   MessageType
	}{
		{"spBv1.0/g/NCMD/e", NCMD},
		{"spBv1.0/g/DCMD/e/d", DCMD},
		{"spBv1.0/STATE/scada-1", STATE},
	}
	for _, tt := range tests {
		res, err := NewTracker().Handle(tt.topic, []byte(`{"online":true,"timestamp":1}`), time.Now())
		if err != nil || res.Type != tt.typ || len(res.Readings) != 0 || res.NeedRebirth {
			t.Errorf("Handle(%s) = %+v, %v; want type %v and nothing else", tt.topic, res, err, tt.typ)
		}
	}
}

func TestParseTopic(t *testing.T) {
	tests := []struct {
		topic string
		want  Topic
	}{
		{"spBv1.0/hz-01/NBIRTH/gw-1", Topic{Type: NBIRTH, Group: "hz-01", Edge: "gw-1"}},
		{"spBv1.0/hz-01/NDEATH/gw-1", Topic{Type: NDEATH, Group: "hz-01", Edge: "gw-1"}},
		{"spBv1.0/hz-01/NDATA/gw-1", Topic{Type: NDATA, Group: "hz-01", Edge: "gw-1"}},
		{"spBv1.0/hz-01/NCMD/gw-1", Topic{Type: NCMD, Group: "hz-01", Edge: "gw-1"}},
		{"spBv1.0/hz-01/DBIRTH/gw-1/pump 1", Topic{Type: DBIRTH, Group: "hz-01", Edge: "gw-1", Device: "pump 1"}},
		{"spBv1.0/hz-01/DDEATH/gw-1/p", Topic{Type: DDEATH, Group: "hz-01", Edge: "gw-1", Device: "p"}},
		{"spBv1.0/hz-01/DDATA/gw-1/p", Topic{Type: DDATA, Group: "hz-01", Edge: "gw-1", Device: "p"}},
		{"spBv1.0/hz-01/DCMD/gw-1/p", Topic{Type: DCMD, Group: "hz-01", Edge: "gw-1", Device: "p"}},
		{"spBv1.0/STATE/scada-1", Topic{Type: STATE, Host: "scada-1"}},
	}
	for _, tt := range tests {
		got, err := ParseTopic(tt.topic)
		if err != nil || got != tt.want {
			t.Errorf("ParseTopic(%q) = %+v, %v; want %+v", tt.topic, got, err, tt.want)
		}
		if w := tt.want; w.Device == "" && w.Type != STATE {
			if built := NodeTopic(w.Group, w.Type, w.Edge); built != tt.topic {
				t.Errorf("NodeTopic(%q, %v, %q) = %q, want %q", w.Group, w.Type, w.Edge, built, tt.topic)
			}
		}
	}
	for _, bad := range []string{"", "spBv1.0", "spBv1.0/", "spBv1.0/STATE/", "spBv1.0/STATE/a/b", "spAv1.0/g/NDATA/e", "spBv1.0//NDATA/e", "spBv1.0/g//e", "spBv1.0/g/DDATA/e/"} {
		if got, err := ParseTopic(bad); err == nil {
			t.Errorf("ParseTopic(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestRebirthRequest(t *testing.T) {
	before := time.Now().UnixMilli()
	topic, payload := RebirthRequest("hz-01", "gw-1")
	after := time.Now().UnixMilli()
	if topic != "spBv1.0/hz-01/NCMD/gw-1" {
		t.Fatalf("topic = %q", topic)
	}
	tp, err := ParseTopic(topic)
	if err != nil || tp.Type != NCMD {
		t.Fatalf("ParseTopic(%q) = %+v, %v", topic, tp, err)
	}
	var p spb.Payload
	if err := proto.Unmarshal(payload, &p); err != nil {
		t.Fatalf("payload does not decode: %v", err)
	}
	if ts := int64(p.GetTimestamp()); ts < before || ts > after {
		t.Errorf("payload timestamp %d not within [%d, %d]", ts, before, after)
	}
	if len(p.Metrics) != 1 {
		t.Fatalf("payload has %d metrics, want 1", len(p.Metrics))
	}
	mt := p.Metrics[0]
	if mt.GetName() != "Node Control/Rebirth" || mt.GetDatatype() != uint32(dtBoolean) || !mt.GetBooleanValue() || mt.GetTimestamp() != p.GetTimestamp() {
		t.Errorf("metric = %v, want Node Control/Rebirth, Boolean true, with the payload's timestamp", mt)
	}
	if len(p.ProtoReflect().GetUnknown()) != 0 || len(mt.ProtoReflect().GetUnknown()) != 0 {
		t.Errorf("payload has fields outside the schema")
	}
	// Byte for byte what the generated code would marshal.
	want, err := proto.Marshal(&p)
	if err != nil || string(want) != string(payload) {
		t.Errorf("hand-encoded payload %x differs from proto.Marshal %x", payload, want)
	}
}
