package sparkplug

import (
	"fmt"
	"testing"
	"time"

	"github.com/riskmon/riskmon/protocol/sparkplug/spb"
)

// BenchmarkHandleNDATA handles an NDATA of ten double metrics by alias,
// the steady state of a node after its birth.
func BenchmarkHandleNDATA(b *testing.B) {
	var birth, data []*spb.Payload_Metric
	for i := range 10 {
		birth = append(birth, m(fmt.Sprintf("PT-%03d", i), i+1, dtDouble, float64(i)))
		data = append(data, m("", i+1, dtUnknown, float64(i)+0.5))
	}
	tr := NewTracker()
	now := time.Unix(1764345600, 0)
	if _, err := tr.Handle("spBv1.0/hz-01/NBIRTH/gw-1", marshal(b, pl(0, birth...)), now); err != nil {
		b.Fatal(err)
	}
	// 256 payloads, one per seq, so the run is in order and gap-free.
	var payloads [256][]byte
	for i := range payloads {
		payloads[i] = marshal(b, pl(i, data...))
	}
	seq := 1
	b.ReportAllocs()
	for b.Loop() {
		res, err := tr.Handle("spBv1.0/hz-01/NDATA/gw-1", payloads[seq], now)
		if err != nil || res.SeqGap != 0 || len(res.Readings) != 10 || res.Readings[9].Reject != "" {
			b.Fatalf("Handle = %+v, %v", res, err)
		}
		seq = (seq + 1) % 256
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10), "ns/reading")
}
