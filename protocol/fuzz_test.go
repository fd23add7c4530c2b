package protocol

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary payloads to the decoder: no input may panic,
// a message is rejected with an Error that names its reason, and
// every reading of an accepted one is either complete or says why not.
func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/payloads/*.json")
	if len(seeds) == 0 {
		f.Fatal("no seed payloads in testdata/payloads")
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"ts":1764345600000,"seq":7,"historical":true,"readings":[{"sensor":"GT-101","value":NaN,"quality":"bad"}]}`))
	// Shapes the one-pass decoder takes, so that mutations explore its
	// edges; sameDecode holds it to the full decoder's result.
	f.Add([]byte(`{"seq":1,"ts":1764345600000,"readings":[{"sensor":"GT-101","value":12.5},{"sensor":"GT-102","value":-0.5e1,"ts":1764345600100,"quality":"uncertain"}]}`))
	f.Add([]byte("{ \"gw\" : \"gw-1\", \"readings\" : [ {\"sensor\":\"PT-201\",\"value\":1,\"x\":null} ], \"ts\" : 1764345600000 }"))
	d := NewDecoder(100)
	f.Fuzz(func(t *testing.T, payload []byte) {
		sameDecode(t, payload, 100)
		b, err := d.Decode(payload)
		if err != nil {
			var de *Error
			if !errors.As(err, &de) || de.Reason == "" {
				t.Fatalf("error %v is not an Error with a reason", err)
			}
			return
		}
		if len(b.Readings) == 0 || len(b.Readings) > 100 {
			t.Fatalf("accepted a batch of %d readings; want 1..100", len(b.Readings))
		}
		for i, r := range b.Readings {
			switch {
			case r.Reject != "" && r.Detail == "":
				t.Fatalf("reading %d rejected (%s) without a detail", i, r.Reject)
			case r.Reject == "" && (r.Sensor == "" || r.Time.IsZero()):
				t.Fatalf("reading %d accepted without sensor or time: %+v", i, r)
			}
		}
	})
}
