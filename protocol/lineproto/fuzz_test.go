package lineproto

import (
	"github.com/riskmon/riskmon/protocol"
	"math"
	"testing"
)

// FuzzDecode feeds arbitrary payloads to Decode: no input may panic, a
// message error leaves dst alone, and every reading is either rejected
// with a detail or usable: named, finite and timed.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"reading,sensor=GT-101 value=12.5 1764345600000000000\n",
		"m,sensor=a value=-3i,historical=true,quality=\"uncertain\" 1764345600000000000\r\nm,sensor=b value=7u 1\n",
		"# comment\n\nm,sensor=tank\\ 1 value=1 1764345600000000000",
		"m value=1 1\nm,sensor=f value= 1\nm,sensor=a value=\"x\nm,sensor=b value=1 2\n",
		"m,sensor=a value=1e999 1\nm,sensor=b value=NaN 1\nm,sensor=c value=1 -1",
		`{"ts":1764345600000,"readings":[{"sensor":"a","value":1}]}`,
		"\x00\xff\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		dst := make([]protocol.Reading, 1, 2)
		got, err := Decode(payload, dst)
		if err != nil {
			if len(got) != 1 {
				t.Fatalf("error %v but %d readings", err, len(got))
			}
			return
		}
		if len(got) < 2 {
			t.Fatalf("no error and no reading")
		}
		for _, r := range got[1:] {
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
	})
}
