package ingest

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/riskmon/riskmon/protocol"
	"github.com/riskmon/riskmon/sensors"
)

// FuzzDecode feeds arbitrary payloads through decode and validation: no
// input may panic, every item is either valid or carries a reason, and
// nothing is lost — each item is accepted or rejected.
func FuzzDecode(f *testing.F) {
	// The wire format's sample payloads, kept with its decoder.
	seeds, _ := filepath.Glob("../protocol/testdata/payloads/*.json")
	if len(seeds) == 0 {
		f.Fatal("no seed payloads in ../protocol/testdata/payloads")
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"ts":1764345600000,"readings":[{"sensor":"GT-101","value":NaN}]}`))
	reg := testRegistry(f)
	m := NewMetrics(nil)
	dl, err := OpenDeadLetter(DeadLetterOptions{Recent: 10})
	if err != nil {
		f.Fatal(err)
	}
	rej := NewRejecter(m, dl, slog.New(slog.DiscardHandler), time.Minute)
	now := time.UnixMilli(1764345600000)
	f.Fuzz(func(t *testing.T, payload []byte) {
		p := NewProcessor(reg, Limits{}, rej, m, nil)
		counted := func() (n int64) {
			for _, r := range AllReasons() {
				n += int64(testutil.ToFloat64(m.Rejected(r)))
			}
			return n
		}
		before, parkedBefore := counted(), dl.Total()
		out := p.Process("riskmon/v1/hz-01/gw-1/readings", payload, now).Readings
		rejected, parked := counted()-before, dl.Total()-parkedBefore
		if (rejected > 0) != (parked == 1) || parked > 1 {
			t.Fatalf("%d rejections parked in %d entries, want one entry for a message with any", rejected, parked)
		}
		b, err := protocol.NewDecoder(0).Decode(payload)
		if err != nil {
			if len(out) != 0 || rejected != 1 {
				t.Fatalf("message error %v but %d readings out and %d rejections", err, len(out), rejected)
			}
			return
		}
		if int64(len(out))+rejected != int64(len(b.Readings)) {
			t.Fatalf("%d items: %d accepted + %d rejected", len(b.Readings), len(out), rejected)
		}
		for _, r := range out {
			if r.Site != "hz-01" || r.Sensor == "" || r.Time.IsZero() {
				t.Fatalf("accepted reading %+v is incomplete", r)
			}
		}
	})
}

func testRegistry(tb testing.TB) *sensors.Registry {
	tb.Helper()
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(),
		[]sensors.Site{{ID: "hz-01", Name: "Tank farm", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{
			{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw-1"},
			{ID: "PT-201", Site: "hz-01", Kind: "pressure", Gateway: "gw-1"},
			{ID: "H2S-501", Site: "hz-01", Kind: "h2s", Gateway: "gw-1"},
		})
	if err != nil {
		tb.Fatal(err)
	}
	return reg
}

// FuzzSplitBySeries: whatever the spool holds, the split into concurrent
// requests loses no byte, invents none, and keeps each line whole and in
// its order within its lane.
func FuzzSplitBySeries(f *testing.F) {
	f.Add([]byte("reading,sensor=a\\ b,site=s value=1 1\nreading,sensor=c,site=s value=2 2\n"), uint8(2))
	f.Add([]byte("alert_event,rule=r message=\"x y\" 3\n\n\\"), uint8(3))
	f.Fuzz(func(t *testing.T, lines []byte, n uint8) {
		lanes := splitBySeries(lines, nil, int(n%8)+1)
		total := 0
		for _, l := range lanes {
			total += len(l)
		}
		if total != len(lines) {
			t.Fatalf("%d bytes in, %d out", len(lines), total)
		}
		var want, got []string
		for l := range strings.Lines(string(lines)) {
			want = append(want, l)
		}
		for _, lane := range lanes {
			for l := range strings.Lines(string(lane)) {
				got = append(got, l)
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Fatalf("lines changed by the split:\n%q\n%q", want, got)
		}
	})
}
