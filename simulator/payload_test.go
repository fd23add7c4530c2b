package simulator

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/riskmon/riskmon/protocol"
)

func TestAppendBatch(t *testing.T) {
	tests := []struct {
		name   string
		ts     int64
		seq    uint64
		points []Point
		want   string
	}{
		{
			name: "documented example",
			ts:   1764345600000, seq: 1042,
			points: []Point{{Sensor: "GT-101", Value: 12.5, Decimals: 1}, {Sensor: "PT-201", Value: 1.62, Decimals: 3}},
			want:   `{"ts":1764345600000,"seq":1042,"readings":[{"sensor":"GT-101","value":12.5},{"sensor":"PT-201","value":1.620}]}`,
		},
		{
			name: "shortest and negative values",
			ts:   1, seq: 1,
			points: []Point{{Sensor: "DM-203", Value: -3.25, Decimals: -1}, {Sensor: "CO-103", Value: 3, Decimals: 0}},
			want:   `{"ts":1,"seq":1,"readings":[{"sensor":"DM-203","value":-3.25},{"sensor":"CO-103","value":3}]}`,
		},
		{
			name: "escaped sensor id",
			ts:   2, seq: 18446744073709551615,
			points: []Point{{Sensor: "a\"b\\c\n", Value: 0, Decimals: 1}},
			want:   `{"ts":2,"seq":18446744073709551615,"readings":[{"sensor":"a\"b\\c\u000a","value":0.0}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendBatch([]byte("prefix"), tt.ts, tt.seq, tt.points)
			if string(got[6:]) != tt.want {
				t.Fatalf("got  %s\nwant %s", got[6:], tt.want)
			}
			b, err := strictDecode(got[6:])
			if err != nil {
				t.Fatalf("strict decode: %v", err)
			}
			var ts int64
			if err := json.Unmarshal(b.TS, &ts); err != nil || ts != tt.ts {
				t.Errorf("ts %s, want %d", b.TS, tt.ts)
			}
			if b.Seq == nil || *b.Seq != tt.seq {
				t.Errorf("seq %v, want %d", b.Seq, tt.seq)
			}
			for i, r := range *b.Readings {
				p := tt.points[i]
				if *r.Sensor != p.Sensor || *r.Value != p.Value {
					t.Errorf("reading %d = %s %g, want %s %g", i, *r.Sensor, *r.Value, p.Sensor, p.Value)
				}
			}
		})
	}
}

func TestAppendBatchAllocations(t *testing.T) {
	points := []Point{{Sensor: "GT-101", Value: 12.5, Decimals: 1}, {Sensor: "PT-102", Value: 0.85, Decimals: 3}}
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendBatch(buf[:0], 1764345600000, 7, points)
	})
	if allocs != 0 {
		t.Errorf("AppendBatch into a large enough buffer allocates %g times", allocs)
	}
}

func TestMalformedIsInvalid(t *testing.T) {
	for k := range malformedKinds {
		t.Run(k.String(), func(t *testing.T) {
			payload := AppendMalformed(nil, k, 1764345600000, "GT-101")
			if _, err := strictDecode(payload); err == nil {
				t.Fatalf("strict decoder accepts %s", payload)
			}
			// None may carry a seq that a lenient decoder could pick up.
			var probe struct {
				Seq *uint64 `json:"seq"`
			}
			if json.Unmarshal(payload, &probe) == nil && probe.Seq != nil {
				t.Errorf("%s carries a seq", payload)
			}
		})
	}
}

// TestBatchDecodes: riskmon's own decoder reads back what AppendBatch
// writes, reading by reading.
func TestBatchDecodes(t *testing.T) {
	points := []Point{{Sensor: "GT-101", Value: 12.5, Decimals: 1}, {Sensor: "PT-201", Value: -1.625, Decimals: -1}}
	b, err := protocol.NewDecoder(0).Decode(AppendBatch(nil, 1764345600000, 1042, points))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !b.HasSeq || b.Seq != 1042 || len(b.Readings) != len(points) {
		t.Fatalf("batch seq %d/%v with %d readings, want 1042 with %d", b.Seq, b.HasSeq, len(b.Readings), len(points))
	}
	for i, r := range b.Readings {
		p := points[i]
		if r.Reject != "" || r.Sensor != p.Sensor || r.Value != p.Value || !r.Time.Equal(time.UnixMilli(1764345600000)) {
			t.Errorf("reading %d = %+v, want %s %g at the batch time", i, r, p.Sensor, p.Value)
		}
	}
}

// TestMalformedReasons: each malformed message is refused by riskmon's
// decoder for the reason it was made to show.
func TestMalformedReasons(t *testing.T) {
	tests := []struct {
		kind          MalformedKind
		whole, single string // reason of the message, or of its one reading
	}{
		{MalformedInvalidJSON, protocol.ReasonMalformed, ""},
		{MalformedTruncated, protocol.ReasonMalformed, ""},
		{MalformedWrongType, "", protocol.ReasonBadValue},
		{MalformedMissingReadings, protocol.ReasonBadSchema, ""},
		{MalformedEmptyBatch, protocol.ReasonEmptyBatch, ""},
	}
	d := protocol.NewDecoder(0)
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			b, err := d.Decode(AppendMalformed(nil, tt.kind, 1764345600000, "GT-101"))
			var de *protocol.Error
			switch {
			case tt.whole != "":
				if !errors.As(err, &de) || de.Reason != tt.whole {
					t.Fatalf("Decode error %v, want reason %s", err, tt.whole)
				}
			case err != nil:
				t.Fatalf("Decode: %v", err)
			case len(b.Readings) != 1 || b.Readings[0].Reject != tt.single:
				t.Fatalf("readings %+v, want one rejected for %s", b.Readings, tt.single)
			}
		})
	}
}

func BenchmarkAppendBatch(b *testing.B) {
	points := make([]Point, 10)
	for i := range points {
		points[i] = Point{Sensor: "GT-101", Value: 12.5 + float64(i), Decimals: 1}
	}
	var buf []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = AppendBatch(buf[:0], 1764345600000+int64(i), uint64(i), points)
	}
	b.SetBytes(int64(len(buf)))
}
