package ingest

import (
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/riskmon/riskmon/sensors"
)

// TestSeqGapGrace: a gap in a gateway's seq is a loss only if its
// messages are still missing once limits.seq_grace has passed; those that
// arrive in time (a redelivery after later messages) are counted as late.
func TestSeqGapGrace(t *testing.T) {
	t0 := time.UnixMilli(1764345600000)
	const grace = 30 * time.Second
	type step struct {
		seq uint64
		at  time.Duration // receive time after t0
	}
	tests := []struct {
		name  string
		steps []step
		until time.Duration // Expire is called at t0+until at the end
		lost  []int         // Missing of each loss reported, in order
		late  float64
	}{
		{name: "in order", steps: []step{{1, 0}, {2, 0}, {3, 0}}, until: time.Hour},
		{name: "redelivered after later messages: late, not lost",
			steps: []step{{1, 0}, {2, 0}, {4, 0}, {5, time.Second}, {3, 10 * time.Second}, {6, 11 * time.Second}},
			until: time.Hour, late: 1},
		{name: "never comes: lost after the grace",
			steps: []step{{1, 0}, {5, 0}}, until: grace, lost: []int{3}},
		{name: "not yet lost before the grace ends",
			steps: []step{{1, 0}, {5, 0}}, until: grace - time.Millisecond},
		{name: "partly filled: the rest is lost",
			steps: []step{{1, 0}, {6, 0}, {3, 5 * time.Second}, {2, 6 * time.Second}},
			until: grace, lost: []int{2}, late: 2},
		{name: "filled in the middle, then the rest",
			steps: []step{{1, 0}, {6, 0}, {3, time.Second}, {2, time.Second}, {5, time.Second}, {4, time.Second}},
			until: time.Hour, late: 4},
		{name: "filled too late: lost, then a redelivery",
			steps: []step{{1, 0}, {3, 0}, {4, grace}, {2, grace + time.Second}},
			until: time.Hour, lost: []int{1}},
		{name: "duplicates are neither late nor lost",
			steps: []step{{1, 0}, {2, 0}, {2, 0}, {1, time.Second}, {3, time.Second}}, until: time.Hour},
		{name: "two gaps, each on its own clock",
			steps: []step{{1, 0}, {3, 0}, {6, 20 * time.Second}},
			until: 40 * time.Second, lost: []int{1}},
		{name: "gateway restart is no loss",
			steps: []step{{5000, 0}, {1, time.Second}, {2, time.Second}}, until: time.Hour},
		{name: "a gap still open at a restart is lost at once",
			steps: []step{{5000, 0}, {5003, 0}, {1, time.Second}}, until: time.Second, lost: []int{2}},
		{name: "a message far behind that fills a gap is late, not a restart",
			steps: []step{{1, 0}, {3000, 0}, {2, time.Second}, {3001, time.Second}},
			until: time.Second, late: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics(nil)
			dl, _ := OpenDeadLetter(DeadLetterOptions{})
			p := NewProcessor(testRegistry(t), Limits{SeqGrace: grace}, NewRejecter(m, dl, slog.New(slog.DiscardHandler), time.Minute), m, nil)
			var lost []int
			take := func(out *Output) {
				for _, ev := range out.Events {
					if ev.Kind == sensors.GatewaySeqGap {
						if ev.Site != "hz-01" || ev.Gateway != "gw-1" || ev.Source != "seq" {
							t.Errorf("loss reported for %s/%s (%s)", ev.Site, ev.Gateway, ev.Source)
						}
						lost = append(lost, ev.Missing)
					}
				}
			}
			for _, s := range tt.steps {
				payload := `{"ts":1764345600000,"seq":` + strconv.FormatUint(s.seq, 10) + `,"readings":[{"sensor":"GT-101","value":1}]}`
				take(p.Process("riskmon/v1/hz-01/gw-1/readings", []byte(payload), t0.Add(s.at)))
			}
			take(p.Expire(t0.Add(tt.until)))
			want := 0
			for _, n := range tt.lost {
				want += n
			}
			if len(lost) != len(tt.lost) || fmtInts(lost) != fmtInts(tt.lost) {
				t.Errorf("losses reported %v, want %v", lost, tt.lost)
			}
			if got := testutil.ToFloat64(m.SeqGaps); got != float64(want) {
				t.Errorf("seq gap messages = %v, want %d", got, want)
			}
			if got := testutil.ToFloat64(m.SeqLate); got != tt.late {
				t.Errorf("late messages = %v, want %v", got, tt.late)
			}
		})
	}
}

func fmtInts(v []int) string {
	s := ""
	for _, n := range v {
		s += strconv.Itoa(n) + ","
	}
	return s
}

// TestSeqGapsBounded: a gateway that skips numbers all the time keeps at
// most maxOpenGaps gaps open; the oldest beyond are declared lost at once.
func TestSeqGapsBounded(t *testing.T) {
	tr := newSeqTracker(time.Minute)
	t0 := time.Unix(0, 0)
	lost := 0
	for i := range uint64(1000) {
		lost += tr.observe("s", "g", 2*i+1, t0).lost
	}
	st := tr.gws[gatewayKey{"s", "g"}]
	if len(st.gaps) > maxOpenGaps {
		t.Fatalf("%d gaps kept, want at most %d", len(st.gaps), maxOpenGaps)
	}
	tr.expire(t0.Add(time.Minute), func(_, _ string, n int) { lost += n })
	if lost != 999 {
		t.Fatalf("%d messages lost in all, want 999", lost)
	}
	// Splitting one wide gap by filling every other seq is bounded too.
	tr = newSeqTracker(time.Minute)
	tr.observe("s", "g", 1, t0)
	tr.observe("s", "g", 100000, t0)
	for s := uint64(3); s < 100000; s += 2 {
		tr.observe("s", "g", s, t0)
	}
	if n := len(tr.gws[gatewayKey{"s", "g"}].gaps); n > maxOpenGaps {
		t.Fatalf("%d gaps kept after splitting, want at most %d", n, maxOpenGaps)
	}
}

// FuzzSeqTracker feeds arbitrary seq streams of a few gateways: the
// tracker must keep its gaps ordered, disjoint and bounded, keep its count
// of gateways with open gaps right, and have none left once their grace
// has passed.
func FuzzSeqTracker(f *testing.F) {
	f.Add([]byte{1, 0, 2, 0, 9, 0, 3, 1, 200, 2, 5, 0})
	f.Add([]byte{0, 0, 255, 255, 1, 1, 254, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		tr := newSeqTracker(time.Minute)
		now := time.Unix(1764345600, 0)
		seqs := [3]uint64{}
		for i := 0; i+1 < len(ops); i += 2 {
			gw := int(ops[i] % 3)
			// The second byte moves the gateway's seq: mostly forward,
			// sometimes back (a late or repeated message), far back
			// (a restart) or far forward (a wide gap).
			switch d := ops[i+1]; {
			case d < 200:
				seqs[gw] += uint64(d % 8)
			case d < 240:
				seqs[gw] -= min(seqs[gw], uint64(d-200))
			case d < 250:
				seqs[gw] = uint64(d - 240)
			default:
				seqs[gw] += uint64(d) << 20
			}
			now = now.Add(time.Duration(ops[i]) * 100 * time.Millisecond)
			tr.observe("s", strconv.Itoa(gw), seqs[gw], now)
			tr.expire(now, func(_, _ string, n int) {
				if n <= 0 {
					t.Fatalf("loss of %d messages reported", n)
				}
			})
			open := 0
			for _, st := range tr.gws {
				if len(st.gaps) > maxOpenGaps {
					t.Fatalf("%d gaps open, at most %d kept", len(st.gaps), maxOpenGaps)
				}
				for j, g := range st.gaps {
					if g.from > g.to || (j > 0 && st.gaps[j-1].to >= g.from) {
						t.Fatalf("gaps out of order or overlapping: %+v", st.gaps)
					}
				}
				if len(st.gaps) > 0 {
					open++
				}
			}
			if open != tr.open {
				t.Fatalf("%d gateways with open gaps, tracker counts %d", open, tr.open)
			}
		}
		tr.expire(now.Add(time.Minute), func(_, _ string, _ int) {})
		for k, st := range tr.gws {
			if len(st.gaps) > 0 {
				t.Fatalf("gateway %v still has gaps after their grace: %+v", k, st.gaps)
			}
		}
	})
}
