package sparkplug

import (
	"errors"
	"github.com/riskmon/riskmon/protocol"
	"math"
	"testing"
	"time"

	"github.com/riskmon/riskmon/protocol/sparkplug/spb"
)

// FuzzHandle feeds arbitrary topics and payloads to a Tracker that has
// seen a node and a device born, so alias resolution runs too. No input
// may panic, errors are *protocol.Error with a reason, and every reading is either
// rejected with a detail or usable: named, finite and timed.
func FuzzHandle(f *testing.F) {
	nbirth := marshal(f, pl(0, bdSeqMetric(1),
		m("Node Control/Rebirth", 0, dtBoolean, false),
		m("GT-101", 1, dtDouble, 12.5), m("LT-301", 2, dtInt16, uint32(0xFFFF)),
		m("NAME", 3, dtString, "x")))
	dbirth := marshal(f, pl(1, m("FT-301", 1, dtUInt32, uint32(42)), m("VT-302", 2, dtInt8, uint32(0xFE))))
	_, rebirth := RebirthRequest("g", "e")
	seeds := []struct {
		topic   string
		payload []byte
	}{
		{"spBv1.0/g/NBIRTH/e", nbirth},
		{"spBv1.0/g/DBIRTH/e/d", dbirth},
		{"spBv1.0/g/NDATA/e", marshal(f, pl(2, m("", 1, dtUnknown, 13.0), m("", 2, dtUnknown, uint32(3)), m("", 9, dtUnknown, 1.0)))},
		{"spBv1.0/g/DDATA/e/d", marshal(f, pl(2, m("", 1, dtUnknown, uint32(43)), historical(withTS(m("", 2, dtUnknown, uint64(1)), baseMS-1))))},
		{"spBv1.0/g/NDATA/e", marshal(f, pl(200, null(m("GT-101", -1, dtDouble, nil)), m("x", -1, dtFloat, float32(math.Inf(-1)))))},
		{"spBv1.0/g/DDATA/e/d", marshal(f, pl(3, m("t", -1, dtTemplate, &spb.Payload_Template{Metrics: []*spb.Payload_Metric{m("a", -1, dtDouble, 1.0)}})))},
		{"spBv1.0/g/NDEATH/e", marshal(f, pl(-1, bdSeqMetric(1)))},
		{"spBv1.0/g/NDEATH/e", marshal(f, pl(-1, bdSeqMetric(0)))},
		{"spBv1.0/g/DDEATH/e/d", marshal(f, pl(4))},
		{"spBv1.0/g/NCMD/e", rebirth},
		{"spBv1.0/STATE/host", []byte(`{"online":true,"timestamp":1764345600000}`)},
		{"spBv1.0/g/NDATA/e", []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"spBv1.0/g/NFOO/e", nil},
		{"riskmon/v1/s/g/readings", []byte(`{}`)},
	}
	for _, s := range seeds {
		f.Add(s.topic, s.payload)
	}
	now := time.Unix(1764345600, 0)
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		tr := NewTracker()
		if _, err := tr.Handle("spBv1.0/g/NBIRTH/e", nbirth, now); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Handle("spBv1.0/g/DBIRTH/e/d", dbirth, now); err != nil {
			t.Fatal(err)
		}
		res, err := tr.Handle(topic, payload, now)
		if err != nil {
			var e *protocol.Error
			if !errors.As(err, &e) || e.Reason == "" || e.Msg == "" {
				t.Fatalf("error %v is not an *protocol.Error with reason and message", err)
			}
			return
		}
		if res.Type == 0 || res.SeqGap < 0 || res.SeqGap > 255 {
			t.Fatalf("result %+v", res)
		}
		for _, r := range res.Readings {
			if r.Reject != "" {
				if r.Detail == "" {
					t.Fatalf("reading %+v rejected without detail", r)
				}
				continue
			}
			if r.Sensor == "" || r.Time.IsZero() || math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.Detail != "" {
				t.Fatalf("usable reading %+v is incomplete", r)
			}
		}
		// The tracker still works after whatever it was fed.
		if _, err := tr.Handle("spBv1.0/g/NDATA/e", marshal(t, pl(0, m("GT-101", -1, dtDouble, 1.0))), now); err != nil {
			t.Fatal(err)
		}
	})
}
