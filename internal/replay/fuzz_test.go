package replay

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/riskmon/riskmon/sensors"
)

// FuzzCSV: any file gives readings in time order or a *sensors.LoadError,
// never a panic.
func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		"site,sensor,time,value,quality\nhz-01,GT-101,2026-11-28T16:00:00Z,12.5,good\n",
		"hz-01,GT-101,1764345600000,1\nhz-01,GT-101,1764345500000,\n",
		"site,sensor,time\n\"a,b\",x,nope\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var prev sensors.Reading
		n := 0
		err := CSV{Name: "f.csv", R: bytes.NewReader(data)}.Readings(context.Background(), func(r sensors.Reading) error {
			if n > 0 && r.Time.Before(prev.Time) {
				t.Fatalf("reading %d at %s before the previous at %s", n, r.Time, prev.Time)
			}
			prev = r
			n++
			return nil
		})
		var le *sensors.LoadError
		if err != nil && !errors.As(err, &le) {
			t.Fatalf("error is %T, want *sensors.LoadError: %v", err, err)
		}
	})
}
