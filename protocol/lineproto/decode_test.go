package lineproto

import (
	"errors"
	"github.com/riskmon/riskmon/protocol"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

const ts = "1764345600000000000" // 2025-11-28T16:00:00Z in nanoseconds

var tsTime = time.Unix(0, 1764345600000000000)

func TestDecodeLines(t *testing.T) {
	type want struct {
		sensor     string
		value      float64
		quality    sensors.Quality
		historical bool
		reject     string
	}
	tests := []struct {
		name    string
		payload string
		want    []want
	}{
		{
			name:    "documented example",
			payload: "reading,sensor=GT-101 value=12.5 " + ts + "\nreading,sensor=PT-201 value=1.62,quality=\"uncertain\" " + ts + "\n",
			want:    []want{{"GT-101", 12.5, sensors.QualityGood, false, ""}, {"PT-201", 1.62, sensors.QualityUncertain, false, ""}},
		},
		{
			name:    "integer, unsigned, historical, any measurement, extra tags and fields",
			payload: "m,site=x,sensor=a value=-3i,historical=true " + ts + "\nflow,sensor=b,unit=m3 value=7u,quality=\"bad\",note=\"hi\" " + ts,
			want:    []want{{"a", -3, sensors.QualityGood, true, ""}, {"b", 7, sensors.QualityBad, false, ""}},
		},
		{
			name:    "escaped sensor tag, CRLF, comments and blank lines",
			payload: "# gateway dump\r\n\r\nm,sensor=tank\\ 1\\,top value=1 " + ts + "\r\n\n   \nm,sensor=x value=2 " + ts,
			want:    []want{{"tank 1,top", 1, sensors.QualityGood, false, ""}, {"x", 2, sensors.QualityGood, false, ""}},
		},
		{
			name: "bad lines do not stop good ones",
			payload: strings.Join([]string{
				"m value=1 " + ts,                             // no sensor tag
				"m,sensor=a temp=1 " + ts,                     // no value field
				"m,sensor=b value=\"high\" " + ts,             // value is a string
				"m,sensor=c value=true " + ts,                 // value is a boolean
				"m,sensor=d value=1",                          // no timestamp
				"m,sensor=e value=1 " + ts,                    // good
				"m,sensor=f value= " + ts,                     // unparsable
				"this is not line protocol",                   // unparsable
				"m,sensor=g value=1,quality=\"great\" " + ts,  // unknown quality
				"m,sensor=h value=1,quality=3 " + ts,          // quality not a string
				"m,sensor=i value=1,historical=\"yes\" " + ts, // historical not a boolean
				"m,sensor=j value=1 -5",                       // negative time
				"m,sensor=k value=1 0",                        // zero time
				"m,sensor=l value=1 99999999999999999999",     // time overflows
				"m,sensor=m value=1e999 " + ts,                // float out of range
				"m,sensor=n value=2 " + ts + " trailing",      // text after timestamp
				"m,sensor=o value=3 " + ts,                    // good
			}, "\n"),
			want: []want{
				{"", 1, 0, false, ReasonMissingSensor},
				{"a", 0, 0, false, ReasonBadValue},
				{"b", 0, 0, false, ReasonBadValue},
				{"c", 0, 0, false, ReasonBadValue},
				{"d", 1, 0, false, ReasonNoTimestamp},
				{"e", 1, sensors.QualityGood, false, ""},
				{"f", 0, 0, false, ReasonMalformed},
				{"", 0, 0, false, ReasonMalformed},
				{"g", 1, 0, false, ReasonBadQuality},
				{"h", 1, 0, false, ReasonBadQuality},
				{"i", 1, 0, false, ReasonBadSchema},
				{"j", 1, 0, false, ReasonBadTimestamp},
				{"k", 1, 0, false, ReasonBadTimestamp},
				{"l", 1, 0, false, ReasonBadTimestamp},
				{"m", 0, 0, false, ReasonMalformed},
				{"n", 2, 0, false, ReasonMalformed},
				{"o", 3, sensors.QualityGood, false, ""},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.payload), nil)
			if err != nil {
				t.Fatalf("Decode error = %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d readings, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Sensor != w.sensor || g.Reject != w.reject {
					t.Errorf("reading %d: sensor %q reject %q (%s), want sensor %q reject %q", i, g.Sensor, g.Reject, g.Detail, w.sensor, w.reject)
					continue
				}
				if w.reject != "" {
					if g.Detail == "" {
						t.Errorf("reading %d: rejected without detail", i)
					}
					continue
				}
				if g.Value != w.value || g.Quality != w.quality || g.Historical != w.historical || !g.Time.Equal(tsTime) || g.Detail != "" {
					t.Errorf("reading %d = %+v, want %+v at %v", i, g, w, tsTime)
				}
			}
		})
	}
}

func TestDecodeMessageErrors(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    string
	}{
		{"empty", "", ReasonEmptyBatch},
		{"only comments and blank lines", "# nothing\n\n  \r\n", ReasonEmptyBatch},
		{"JSON batch on the wrong topic", `{"ts":1764345600000,"readings":[{"sensor":"a","value":1}]}`, ReasonMalformed},
		{"binary", "\x00\xff\x10\n\x01", ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]protocol.Reading, 1, 4)
			got, err := Decode([]byte(tt.payload), dst)
			var e *protocol.Error
			if !errors.As(err, &e) {
				t.Fatalf("Decode(%q) error = %v, want an *protocol.Error", tt.payload, err)
			}
			if e.Reason != tt.want {
				t.Fatalf("reason = %s, want %s (err %v)", e.Reason, tt.want, err)
			}
			if len(got) != 1 {
				t.Fatalf("dst has %d readings after a message error, want its original 1", len(got))
			}
		})
	}
}

func TestDecodeAppends(t *testing.T) {
	dst := []protocol.Reading{{Sensor: "earlier"}}
	got, err := Decode([]byte("m,sensor=a value=1 "+ts+"\nm,sensor=b value=2 "+ts), dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Sensor != "earlier" || got[1].Sensor != "a" || got[2].Sensor != "b" {
		t.Fatalf("got %+v", got)
	}
}

// TestDecodeSensorOutlivesPayload checks that Sensor does not alias the
// payload, which the MQTT client may reuse after the handler returns.
func TestDecodeSensorOutlivesPayload(t *testing.T) {
	payload := []byte("m,sensor=abc value=1 " + ts)
	got, err := Decode(payload, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range payload {
		payload[i] = 'x'
	}
	if got[0].Sensor != "abc" {
		t.Fatalf("sensor changed with the payload: %q", got[0].Sensor)
	}
}

func TestDecodeManyLines(t *testing.T) {
	// More lines and longer names than Decode's stack buffers hold.
	var b strings.Builder
	for i := range 200 {
		b.WriteString("m,sensor=")
		b.WriteString(strings.Repeat("s", i%40+1))
		b.WriteString(" value=1 " + ts + "\n")
	}
	got, err := Decode([]byte(b.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 200 {
		t.Fatalf("got %d readings, want 200", len(got))
	}
	for i, r := range got {
		if r.Sensor != strings.Repeat("s", i%40+1) || r.Reject != "" || r.Value != 1 || math.IsNaN(r.Value) {
			t.Fatalf("reading %d = %+v", i, r)
		}
	}
}

func TestParseNanos(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1", 1, true},
		{"1764345600000000000", 1764345600000000000, true},
		{"9223372036854775807", math.MaxInt64, true},
		{"0000000000000000001", 1, true},
		{"9223372036854775808", 0, false},
		{"10000000000000000000", 0, false},
		{"0", 0, false},
		{"-1", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseNanos([]byte(tt.in))
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("parseNanos(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
