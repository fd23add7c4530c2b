package protocol

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

func TestDecodeMessageErrors(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    string
	}{
		{"not json", `{"ts":1,`, ReasonMalformed},
		{"garbage", "\x00\xff\x10", ReasonMalformed},
		{"array not object", `[1,2]`, ReasonBadSchema},
		{"no readings", `{"ts":1764345600000}`, ReasonBadSchema},
		{"readings not array", `{"ts":1764345600000,"readings":{}}`, ReasonBadSchema},
		{"empty readings", `{"ts":1764345600000,"readings":[]}`, ReasonEmptyBatch},
		{"negative seq", `{"ts":1764345600000,"seq":-1,"readings":[{"sensor":"a","value":1}]}`, ReasonBadSchema},
		{"bad batch ts", `{"ts":"yesterday","readings":[{"sensor":"a","value":1}]}`, ReasonBadSchema},
		{"too many", `{"ts":1764345600000,"readings":[{"sensor":"a","value":1},{"sensor":"b","value":2},{"sensor":"c","value":3}]}`, ReasonTooMany},
	}
	d := NewDecoder(2)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Decode([]byte(tt.payload))
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("Decode(%q) error = %v, want a *Error", tt.payload, err)
			}
			if de.Reason != tt.want {
				t.Fatalf("reason = %s, want %s (err %v)", de.Reason, tt.want, err)
			}
		})
	}
}

func TestDecodeReadings(t *testing.T) {
	batchTS := time.UnixMilli(1764345600000)
	rfc, _ := time.Parse(time.RFC3339, "2026-11-28T16:00:00Z")
	type want struct {
		sensor  string
		value   float64
		ts      time.Time
		quality sensors.Quality
		reject  string
	}
	tests := []struct {
		name    string
		payload string
		seq     uint64
		hasSeq  bool
		want    []want
	}{
		{
			name:    "documented example",
			payload: `{"ts": 1764345600000, "seq": 1042, "readings": [{"sensor": "GT-101", "value": 12.5}, {"sensor": "PT-201", "value": 1.62, "ts": "2026-11-28T16:00:00Z", "quality": "good"}]}`,
			seq:     1042, hasSeq: true,
			want: []want{{"GT-101", 12.5, batchTS, sensors.QualityGood, ""}, {"PT-201", 1.62, rfc, sensors.QualityGood, ""}},
		},
		{
			name:    "per-reading ts without batch ts",
			payload: `{"readings":[{"sensor":"a","value":-3,"ts":1764345600000,"quality":"uncertain"}]}`,
			want:    []want{{"a", -3, batchTS, sensors.QualityUncertain, ""}},
		},
		{
			name:    "bad readings do not spoil good ones",
			payload: `{"ts":1764345600000,"readings":[{"sensor":"a","value":"abc"},{"value":1},{"sensor":"","value":1},{"sensor":"b","value":2},7,{"sensor":"c"},{"sensor":"d","value":1,"quality":"great"},{"sensor":"e","value":1,"ts":true},{"sensor":"f","value":1,"quality":3}]}`,
			want: []want{
				{"a", 0, batchTS, 0, ReasonBadValue},
				{"", 0, batchTS, 0, ReasonMissingSensor},
				{"", 0, batchTS, 0, ReasonMissingSensor},
				{"b", 2, batchTS, sensors.QualityGood, ""},
				{"", 0, batchTS, 0, ReasonBadSchema},
				{"c", 0, batchTS, 0, ReasonBadValue},
				{"d", 1, batchTS, 0, ReasonBadQuality},
				{"e", 1, batchTS, 0, ReasonBadTimestamp},
				{"f", 1, batchTS, 0, ReasonBadQuality},
			},
		},
		{
			name:    "no timestamp anywhere",
			payload: `{"readings":[{"sensor":"a","value":1}]}`,
			want:    []want{{"a", 1, time.Time{}, 0, ReasonNoTimestamp}},
		},
		{
			// The first of duplicate keys counts, in the batch and in a
			// reading.
			name:    "duplicate keys: the first counts",
			payload: `{"ts":1764345600000,"seq":5,"seq":6,"ts":1,"readings":[{"sensor":"a","value":1,"value":2,"sensor":"b","quality":"bad","quality":"good"}],"readings":[]}`,
			seq:     5, hasSeq: true,
			want: []want{{"a", 1, batchTS, sensors.QualityBad, ""}},
		},
		{
			name:    "escaped key names",
			payload: `{"\u0074s":1764345600000,"readings":[{"sens\u006fr":"a","v\u0061lue":4.5,"qu\u0061lity":"uncertain"}]}`,
			want:    []want{{"a", 4.5, batchTS, sensors.QualityUncertain, ""}},
		},
		{
			name:    "unknown fields ignored",
			payload: `{"ts":1764345600000,"gw":"x","readings":[{"sensor":"a","value":1,"unit":"%LEL"}]}`,
			want:    []want{{"a", 1, batchTS, sensors.QualityGood, ""}},
		},
	}
	d := NewDecoder(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := d.Decode([]byte(tt.payload))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if b.Seq != tt.seq || b.HasSeq != tt.hasSeq {
				t.Errorf("seq = %d/%v, want %d/%v", b.Seq, b.HasSeq, tt.seq, tt.hasSeq)
			}
			if len(b.Readings) != len(tt.want) {
				t.Fatalf("%d readings, want %d", len(b.Readings), len(tt.want))
			}
			for i, w := range tt.want {
				it := b.Readings[i]
				if it.Reject != w.reject {
					t.Errorf("item %d reject = %q (%s), want %q", i, it.Reject, it.Detail, w.reject)
				}
				if w.reject != "" && it.Detail == "" {
					t.Errorf("item %d rejected without a detail", i)
				}
				if it.Sensor != w.sensor {
					t.Errorf("item %d sensor = %q, want %q", i, it.Sensor, w.sensor)
				}
				if w.reject == "" && (it.Value != w.value || !it.Time.Equal(w.ts) || it.Quality != w.quality) {
					t.Errorf("item %d = %v %v %v, want %v %v %v", i, it.Value, it.Time, it.Quality, w.value, w.ts, w.quality)
				}
			}
		})
	}
}

func TestDecodeNonFiniteIsDecodedForValidation(t *testing.T) {
	// fastjson accepts NaN and Inf literals; validation must refuse them.
	d := NewDecoder(0)
	b, err := d.Decode([]byte(`{"ts":1764345600000,"readings":[{"sensor":"a","value":NaN},{"sensor":"b","value":1e999}]}`))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !math.IsNaN(b.Readings[0].Value) || !math.IsInf(b.Readings[1].Value, 1) {
		t.Fatalf("values = %v, %v; want NaN, +Inf", b.Readings[0].Value, b.Readings[1].Value)
	}
}

func BenchmarkDecode(b *testing.B) {
	payload := []byte(`{"ts":1764345600000,"seq":1042,"readings":[` +
		`{"sensor":"GT-101","value":12.5},{"sensor":"GT-102","value":3.25},{"sensor":"GT-103","value":0},` +
		`{"sensor":"GT-104","value":1.5},{"sensor":"PT-201","value":1.62},{"sensor":"PT-202","value":1.6},` +
		`{"sensor":"TT-301","value":25.5},{"sensor":"LT-401","value":8.25},{"sensor":"H2S-501","value":0.5},` +
		`{"sensor":"FT-601","value":1200}]}`)
	d := NewDecoder(0)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := d.Decode(payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10), "ns/reading")
}

// TestDecodeAllocatesNothing: once a decoder has seen a gateway's sensors,
// decoding its next batch allocates nothing, as the ingest hot path needs.
func TestDecodeAllocatesNothing(t *testing.T) {
	payload := []byte(`{"ts":1764345600000,"seq":1042,"readings":[{"sensor":"GT-101","value":12.5},` +
		`{"sensor":"PT-201","value":1.62,"ts":1764345600100,"quality":"uncertain"}]}`)
	d := NewDecoder(0)
	if _, err := d.Decode(payload); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := d.Decode(payload); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Decode allocates %v times per batch, want 0", n)
	}
}
