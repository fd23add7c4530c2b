package lineproto

import (
	"fmt"
	"github.com/riskmon/riskmon/protocol"
	"strings"
	"testing"
)

// BenchmarkDecode decodes a typical gateway message of ten lines into a
// reused slice, as an ingest worker does.
func BenchmarkDecode(b *testing.B) {
	var sb strings.Builder
	for i := range 10 {
		fmt.Fprintf(&sb, "reading,sensor=PT-%03d value=%d.25,quality=\"good\" %d\n", i, i, int64(1764345600000000000)+int64(i)*1e9)
	}
	payload := []byte(sb.String())
	dst := make([]protocol.Reading, 0, 16)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		var err error
		dst, err = Decode(payload, dst[:0])
		if err != nil || len(dst) != 10 || dst[9].Reject != "" {
			b.Fatalf("Decode = %d readings, %v", len(dst), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10), "ns/reading")
}
