package bench

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// spaced collapses runs of spaces, so that rows can be compared without
// the column widths tabwriter chose.
func spaced(s string) string { return regexp.MustCompile(` +`).ReplaceAllString(s, " ") }

func TestMedian(t *testing.T) {
	landed := func(r runResult) float64 { return r.landedRate }
	tests := []struct {
		name string
		runs []float64
		want float64
	}{
		{"none", nil, 0},
		{"one", []float64{7}, 7},
		{"odd, unsorted", []float64{9, 1, 5}, 5},
		{"even: mean of the middle two", []float64{4, 1, 10, 2}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var runs []runResult
			for _, v := range tt.runs {
				runs = append(runs, runResult{landedRate: v})
			}
			if got := median(runs, landed); got != tt.want {
				t.Errorf("median(%v) = %g, want %g", tt.runs, got, tt.want)
			}
			for i, v := range tt.runs {
				if runs[i].landedRate != v {
					t.Fatalf("median reordered its runs")
				}
			}
		})
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		r, t float64
		want string
	}{
		{3, 2, "1.50"},
		{0, 5, "0.00"},
		{1, 3, "0.33"},
		{5, 0, "–"}, // nothing to divide by
	}
	for _, tt := range tests {
		if got := ratio(tt.r, tt.t); got != tt.want {
			t.Errorf("ratio(%g, %g) = %q, want %q", tt.r, tt.t, got, tt.want)
		}
	}
}

func TestWriteCompareTable(t *testing.T) {
	sat := map[string][]runResult{
		Riskmon:  {{landedRate: 90000, collCPU: 4, collRSS: 40}, {landedRate: 110000, collCPU: 6, collRSS: 60}},
		Telegraf: {{landedRate: 40000, collCPU: 20, collRSS: 100}, {landedRate: 60000, collCPU: 10, collRSS: 80, lost: 3}},
	}
	o := CompareOptions{Pairs: 2, Rate: 20000, Outage: 20 * time.Second, OutageRate: 2000, LowRate: 50}
	tests := []struct {
		name    string
		res     compareResults
		want    []string
		notWant []string
	}{
		{
			name: "saturating only",
			res:  compareResults{saturating: sat},
			want: []string{
				"medians of 2 runs each",
				"landed, saturating 100000 readings/s 50000 readings/s 2.00",
				"lost, saturating 0 2 0.00", // Telegraf's median of 0 and 3 is 1.5, printed without decimals
				"collector CPU per reading 5.00 µs 15.00 µs 0.33",
				"influxd CPU per point 0.00 µs 0.00 µs –",
				"collector peak RSS 50 MiB 90 MiB 0.56",
			},
			notWant: []string{"offered", "InfluxDB killed", "idle"},
		},
		{
			name: "every run",
			res: compareResults{saturating: sat,
				fixed:  map[string]runResult{Riskmon: {landedRate: 20000}, Telegraf: {landedRate: 19000, lost: 10}},
				outage: map[string]runResult{Riskmon: {outageLost: 0, loadCPU: 12.5, outageCPU: 3, outageTotal: 1.25}, Telegraf: {outageLost: 5000, loadCPU: 25, outageCPU: 6, outageTotal: 2.5}},
				low:    map[string]runResult{Riskmon: {idleCPU: 1, lowCPU: 2}, Telegraf: {idleCPU: 4, lowCPU: 8}},
			},
			want: []string{
				"landed at 20000/s offered 20000 readings/s 19000 readings/s 1.05",
				"lost at 20000/s offered 0 10 0.00",
				"lost, InfluxDB killed 20s at 2000/s 0 5000 0.00",
				"collector CPU at 2000/s, InfluxDB up 12.5 ms/s 25.0 ms/s 0.50",
				"collector CPU at 2000/s, InfluxDB down 3.0 ms/s 6.0 ms/s 0.50",
				"collector CPU, whole outage run 1.25 s 2.50 s 0.50",
				"collector CPU idle 1.0 ms/s 4.0 ms/s 0.25",
				"collector CPU at 50 readings/s 2.0 ms/s 8.0 ms/s 0.25",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeCompareTable(&b, o, tt.res); err != nil {
				t.Fatal(err)
			}
			out := spaced(b.String())
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("table lacks %q:\n%s", w, b.String())
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("table has %q:\n%s", w, b.String())
				}
			}
		})
	}
}

func TestWriteSingle(t *testing.T) {
	base := singleFigures{
		published: 990, probes: 10, publishTime: 2 * time.Second, landed: 4 * time.Second, stored: 1000,
		cpu: 500 * time.Millisecond, rss: 3 << 20, p50: 2 * time.Millisecond, p99: 9 * time.Millisecond, alerts: 10,
	}
	withReplay := base
	withReplay.replay, withReplay.replayed, withReplay.replayCPU = true, 500*time.Millisecond, 100*time.Millisecond
	short := base
	short.stored = 996
	tests := []struct {
		name     string
		f        singleFigures
		lost     int64
		want     []string
		noReplay bool
	}{
		{"all landed", base, 0, []string{
			"readings published 990 in 2s (495 readings/s offered)",
			"readings landed 1000 in InfluxDB (counted by query; 1000 expected incl. 10 probe readings)",
			"landed rate 250 readings/s",
			"riskmon CPU 500ms total, 500.00 CPU-µs per reading",
			"riskmon peak RSS 3.0 MiB",
			"alert latency p50 2ms, p99 9ms (publish -> MQTT notification, 10 probe alerts)",
			"lost 0",
		}, true},
		{"replay", withReplay, 0, []string{"spool replay 1000 readings in 500ms: 2000 readings/s, 100.00 CPU-µs per reading"}, false},
		{"short", short, 4, []string{"lost 4"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			writeSingle(&b, tt.f)
			out := spaced(b.String())
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
			if tt.noReplay && strings.Contains(out, "spool replay") {
				t.Errorf("replay line without a replay:\n%s", b.String())
			}
			if got := tt.f.lost(); got != tt.lost {
				t.Errorf("lost() = %d, want %d", got, tt.lost)
			}
		})
	}
}

func TestLatencies(t *testing.T) {
	l := &latencies{sent: map[int64]time.Time{}}
	if p50, p99, n := l.percentiles(); p50 != 0 || p99 != 0 || n != 0 {
		t.Errorf("no samples: %s %s %d", p50, p99, n)
	}
	t0 := time.Unix(1000, 0)
	for i := range int64(100) {
		l.sentAt(i, t0)
	}
	// Received in reverse order, each (i+1) ms after it was sent.
	for i := int64(99); i >= 0; i-- {
		l.received(i, t0.Add(time.Duration(i+1)*time.Millisecond))
	}
	l.received(5, t0.Add(time.Hour)) // a second notification of one probe
	l.received(500, t0)              // not a probe of ours
	p50, p99, n := l.percentiles()
	if n != 100 || p50 != 51*time.Millisecond || p99 != 100*time.Millisecond {
		t.Errorf("percentiles = %s, %s of %d; want 51ms, 100ms of 100", p50, p99, n)
	}
}

func TestScrapeCounter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# HELP riskmon_x_total x\nriskmon_x_total_more 1\nriskmon_x_total 42.5\nriskmon_bad_total NaNx\n")
	}))
	defer srv.Close()
	tests := []struct {
		name    string
		want    float64
		wantErr bool
	}{
		{"riskmon_x_total", 42.5, false}, // not the one whose name it prefixes
		{"riskmon_missing_total", 0, true},
		{"riskmon_bad_total", 0, true},
	}
	for _, tt := range tests {
		got, err := scrapeCounter(srv.URL, tt.name)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) || math.IsNaN(got) {
			t.Errorf("scrapeCounter(%s) = %g, %v; want %g, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestWriteCompareTableFixedRate: a fixed-rate run alone prints what the
// publisher offered and riskmon's publish -> page latency, and no
// saturating rows.
func TestWriteCompareTableFixedRate(t *testing.T) {
	o := CompareOptions{Pairs: 0, Rate: 100000}
	res := compareResults{saturating: map[string][]runResult{},
		fixed: map[string]runResult{
			Riskmon:  {landedRate: 97000, offered: 99500, p50: 8 * time.Millisecond, p99: 64500 * time.Microsecond, alerts: 200},
			Telegraf: {landedRate: 77000, offered: 99400},
		}}
	var b bytes.Buffer
	if err := writeCompareTable(&b, o, res); err != nil {
		t.Fatal(err)
	}
	out := spaced(b.String())
	for _, w := range []string{
		"landed at 100000/s offered 97000 readings/s 77000 readings/s 1.26",
		"offered at 100000/s asked 99500 readings/s 99400 readings/s 1.00",
		"publish -> page p50 / p99 at 100000/s 8.0 / 64.5 ms – –",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%s", w, b.String())
		}
	}
	if strings.Contains(out, "saturating") {
		t.Errorf("table has saturating rows without saturating runs:\n%s", b.String())
	}
	if got := latencyNote(res.fixed[Riskmon]); got != ", publish -> page p50 8.0 ms, p99 64.5 ms (200 alerts)" {
		t.Errorf("latencyNote = %q", got)
	}
	if got := latencyNote(res.fixed[Telegraf]); got != "" {
		t.Errorf("latencyNote without alerts = %q", got)
	}
}
