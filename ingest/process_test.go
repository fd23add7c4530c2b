package ingest

import (
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/storage"
)

func TestProcess(t *testing.T) {
	now := time.UnixMilli(1764345600000)
	tests := []struct {
		name     string
		topic    string
		payload  string
		accepted []string // sensor ids
		rejected map[Reason]float64
	}{
		{
			name:     "good batch",
			topic:    "riskmon/v1/hz-01/gw-1/readings",
			payload:  `{"ts":1764345600000,"readings":[{"sensor":"GT-101","value":12.5},{"sensor":"PT-201","value":1.6}]}`,
			accepted: []string{"GT-101", "PT-201"},
		},
		{
			name:  "each bad reading rejected on its own",
			topic: "riskmon/v1/hz-01/gw-1/readings",
			payload: `{"ts":1764345600000,"readings":[{"sensor":"GT-999","value":1},{"sensor":"GT-101","value":250},` +
				`{"sensor":"GT-101","value":-1e999},{"sensor":"PT-201","value":1,"ts":1764345900000},` +
				`{"sensor":"PT-201","value":1,"ts":1000},{"sensor":"H2S-501","value":3}]}`,
			accepted: []string{"H2S-501"},
			rejected: map[Reason]float64{ReasonUnknownSensor: 1, ReasonOutOfRange: 1, ReasonNotFinite: 1, ReasonFuture: 1, ReasonTooOld: 1},
		},
		{
			name:     "unknown site",
			topic:    "riskmon/v1/nowhere/gw-1/readings",
			payload:  `{"ts":1764345600000,"readings":[{"sensor":"GT-101","value":1}]}`,
			rejected: map[Reason]float64{ReasonUnknownSite: 1},
		},
		{
			name:     "bad topic",
			topic:    "riskmon/v1/hz-01/readings",
			payload:  `{}`,
			rejected: map[Reason]float64{ReasonBadTopic: 1},
		},
		{
			name:     "malformed",
			topic:    "riskmon/v1/hz-01/gw-1/readings",
			payload:  `{"ts":`,
			rejected: map[Reason]float64{ReasonMalformed: 1},
		},
		{
			name:     "too large",
			topic:    "riskmon/v1/hz-01/gw-1/readings",
			payload:  `{"ts":1764345600000,"readings":[` + strings.Repeat(`{"sensor":"GT-101","value":1},`, 100) + `{"sensor":"GT-101","value":1}]}`,
			rejected: map[Reason]float64{ReasonTooLarge: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics(nil)
			path := filepath.Join(t.TempDir(), "dl.jsonl")
			dl, err := OpenDeadLetter(DeadLetterOptions{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			defer dl.Close()
			p := NewProcessor(testRegistry(t), Limits{MaxPayloadBytes: 2048}, NewRejecter(m, dl, slog.New(slog.DiscardHandler), time.Minute), m, nil)
			out := p.Process(tt.topic, []byte(tt.payload), now).Readings
			var got []string
			for _, r := range out {
				got = append(got, r.Sensor)
				if r.Site != "hz-01" || r.Sector != "hazchem" || r.Kind == "" {
					t.Errorf("reading %+v lacks registry fields", r)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.accepted, ",") {
				t.Errorf("accepted %v, want %v", got, tt.accepted)
			}
			var total float64
			for _, r := range AllReasons() {
				n := testutil.ToFloat64(m.Rejected(r))
				total += n
				if n != tt.rejected[r] {
					t.Errorf("rejected[%s] = %v, want %v", r, n, tt.rejected[r])
				}
			}
			if n := parkedRejections(dl); n != int(total) || dl.Total() > 1 {
				t.Errorf("%d dead letters listing %d rejections, counted %v; want one entry for the message", dl.Total(), n, total)
			}
			for _, e := range dl.Recent() {
				if e.Topic != tt.topic || e.Detail == "" || (e.Payload == "" && e.PayloadBase64 == "") {
					t.Errorf("dead letter %+v lacks topic, detail or payload", e)
				}
			}
		})
	}
}

func BenchmarkProcess(b *testing.B) {
	payload := []byte(`{"ts":1764345600000,"seq":1,"readings":[` +
		`{"sensor":"GT-101","value":12.5},{"sensor":"PT-201","value":1.62},{"sensor":"H2S-501","value":1},` +
		`{"sensor":"GT-101","value":12.5},{"sensor":"PT-201","value":1.62},{"sensor":"H2S-501","value":1},` +
		`{"sensor":"GT-101","value":12.5},{"sensor":"PT-201","value":1.62},{"sensor":"H2S-501","value":1},` +
		`{"sensor":"GT-101","value":12.5}]}`)
	m := NewMetrics(nil)
	dl, _ := OpenDeadLetter(DeadLetterOptions{})
	p := NewProcessor(testRegistry(b), Limits{}, NewRejecter(m, dl, slog.New(slog.DiscardHandler), time.Minute), m, nil)
	now := time.UnixMilli(1764345600000)
	b.ReportAllocs()
	for b.Loop() {
		if out := p.Process("riskmon/v1/hz-01/gw-1/readings", payload, now).Readings; len(out) != 10 {
			b.Fatalf("%d readings", len(out))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10), "ns/reading")
}

// A processor following a registry takes up a new one at its next
// message: a sensor a reload adds is accepted without a restart.
func TestProcessorFollowsRegistry(t *testing.T) {
	old := testRegistry(t)
	var sites []sensors.Site
	for _, st := range old.Sites() {
		sites = append(sites, *st)
	}
	var list []sensors.Sensor
	for _, sn := range old.Sensors() {
		list = append(list, *sn)
	}
	grown, err := sensors.NewRegistry(sensors.DefaultCatalog(), sites,
		append(list, sensors.Sensor{ID: "GT-102", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw-1"}))
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(nil)
	dl, err := OpenDeadLetter(DeadLetterOptions{Path: filepath.Join(t.TempDir(), "dl.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	ptr := sensors.NewProvider(old)
	p := NewProcessor(old, Limits{}, NewRejecter(m, dl, slog.New(slog.DiscardHandler), time.Minute), m, nil)
	p.follow = ptr
	now := time.UnixMilli(1764345600000)
	// The same topic before and after: what the processor kept of it (the
	// site, the sensor its messages begin with) belongs to one registry.
	msg := []byte(`{"ts":1764345600000,"readings":[{"sensor":"GT-101","value":1},{"sensor":"GT-102","value":1}]}`)
	out := p.Process("riskmon/v1/hz-01/gw-1/readings", msg, now)
	if len(out.Readings) != 1 || out.Readings[0].Sensor != "GT-101" {
		t.Fatalf("before the swap: %+v, want GT-101 alone accepted", out.Readings)
	}
	ptr.Set(grown)
	out = p.Process("riskmon/v1/hz-01/gw-1/readings", msg, now)
	if len(out.Readings) != 2 || out.Readings[1].Sensor != "GT-102" {
		t.Fatalf("after the swap: %+v, want GT-101 and GT-102 accepted", out.Readings)
	}
	for _, r := range out.Readings {
		if s, _ := grown.Lookup("hz-01", r.Sensor); r.Ref != s {
			t.Errorf("%s refers to the old registry's entry", r.Sensor)
		}
	}
}

// TestClockSkew: a gateway whose readings keep a steady offset beyond the
// skew tolerance for two minutes is reported once; back within the
// tolerance it is cleared. An offset that keeps moving (a replay, an
// accelerated simulation) is never reported.
func TestClockSkew(t *testing.T) {
	t0 := time.UnixMilli(1764345600000)
	type msg struct {
		at     time.Duration // receive time after t0
		offset time.Duration // device time minus receive time
	}
	steady := func(offset time.Duration, from, to time.Duration) []msg {
		var out []msg
		for at := from; at <= to; at += 10 * time.Second {
			out = append(out, msg{at, offset})
		}
		return out
	}
	tests := []struct {
		name string
		msgs []msg
		want []sensors.GatewayEventKind
	}{
		{"within tolerance", steady(20*time.Second, 0, 5*time.Minute), nil},
		{"behind by 5 min, steady", steady(-5*time.Minute, 0, 3*time.Minute), []sensors.GatewayEventKind{sensors.GatewayClockSkew}},
		{"behind for five minutes: reported again every two", steady(-5*time.Minute, 0, 5*time.Minute), []sensors.GatewayEventKind{sensors.GatewayClockSkew, sensors.GatewayClockSkew}},
		{"ahead by 90 s, not yet two minutes", steady(90*time.Second, 0, 110*time.Second), nil},
		{"skewed, then set right", append(steady(-5*time.Minute, 0, 3*time.Minute), steady(0, 190*time.Second, 4*time.Minute)...),
			[]sensors.GatewayEventKind{sensors.GatewayClockSkew, sensors.GatewayClockOK}},
		{"accelerated: the offset moves 9 s each second", func() []msg {
			var out []msg
			for at := time.Duration(0); at <= 5*time.Minute; at += 10 * time.Second {
				out = append(out, msg{at, -time.Hour + 9*at})
			}
			return out
		}(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics(nil)
			dl, err := OpenDeadLetter(DeadLetterOptions{Path: filepath.Join(t.TempDir(), "dl.jsonl")})
			if err != nil {
				t.Fatal(err)
			}
			defer dl.Close()
			p := NewProcessor(testRegistry(t), Limits{MaxPast: 24 * time.Hour, MaxFuture: 24 * time.Hour},
				NewRejecter(m, dl, slog.New(slog.DiscardHandler), time.Minute), m, nil)
			var got []sensors.GatewayEventKind
			for _, ms := range tt.msgs {
				now := t0.Add(ms.at)
				dev := now.Add(ms.offset).UnixMilli()
				payload := `{"ts":` + strconv.FormatInt(dev, 10) + `,"readings":[{"sensor":"GT-101","value":1}]}`
				out := p.Process("riskmon/v1/hz-01/gw-1/readings", []byte(payload), now)
				if len(out.Readings) != 1 {
					t.Fatalf("reading at +%s rejected", ms.at)
				}
				for _, ev := range out.Events {
					got = append(got, ev.Kind)
					if ev.Kind == sensors.GatewayClockSkew && (ev.Skew != ms.offset || ev.Gateway != "gw-1" || ev.Site != "hz-01") {
						t.Errorf("skew event %+v, want gw-1 at hz-01 off by %s", ev, ms.offset)
					}
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("events %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDelayedNotSkewed: readings that waited in a broker's backlog arrive
// far behind the receive time although the gateway's clock is right; they
// are marked delayed, never clock-skewed. A clock ahead is skewed at once;
// one behind is skewed once its steady offset has been reported.
func TestDelayedNotSkewed(t *testing.T) {
	t0 := time.UnixMilli(1764345600000)
	type msg struct {
		at  time.Duration // receive time after t0
		dev time.Duration // device time after t0
	}
	var backlog, behind []msg
	// Five minutes of readings, one a second, held by the broker during
	// an outage and delivered within a few seconds once it ends.
	for i := range 300 {
		backlog = append(backlog, msg{5*time.Minute + time.Duration(i)*10*time.Millisecond, time.Duration(i) * time.Second})
	}
	// A clock five minutes slow, steady for three minutes.
	for at := time.Duration(0); at <= 3*time.Minute; at += 10 * time.Second {
		behind = append(behind, msg{at, at - 5*time.Minute})
	}
	tests := []struct {
		name                   string
		msgs                   []msg
		skewed, delayed, onTim int
	}{
		// The last 27 arrive within the tolerance of their device time.
		{"backlog after an outage", backlog, 0, 273, 27},
		{"on time", []msg{{0, 0}, {time.Second, time.Second - 20*time.Second}}, 0, 0, 2},
		{"clock ahead", []msg{{0, 90 * time.Second}}, 1, 0, 0},
		// Reported with the reading at +2 min; the six after it are skewed.
		{"clock behind, steady", behind, 6, 13, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics(nil)
			dl, err := OpenDeadLetter(DeadLetterOptions{Path: filepath.Join(t.TempDir(), "dl.jsonl")})
			if err != nil {
				t.Fatal(err)
			}
			defer dl.Close()
			p := NewProcessor(testRegistry(t), Limits{MaxPast: 24 * time.Hour, MaxFuture: 24 * time.Hour},
				NewRejecter(m, dl, slog.New(slog.DiscardHandler), time.Minute), m, nil)
			var skewed, delayed, onTime int
			for _, ms := range tt.msgs {
				now := t0.Add(ms.at)
				payload := `{"ts":` + strconv.FormatInt(t0.Add(ms.dev).UnixMilli(), 10) + `,"readings":[{"sensor":"GT-101","value":1}]}`
				out := p.Process("riskmon/v1/hz-01/gw-1/readings", []byte(payload), now)
				if len(out.Readings) != 1 {
					t.Fatalf("reading at +%s rejected", ms.at)
				}
				switch r := out.Readings[0]; {
				case r.ClockSkewed && r.Delayed:
					t.Fatalf("reading at +%s both skewed and delayed", ms.at)
				case r.ClockSkewed:
					skewed++
				case r.Delayed:
					delayed++
				default:
					onTime++
				}
			}
			if skewed != tt.skewed || delayed != tt.delayed || onTime != tt.onTim {
				t.Fatalf("skewed %d, delayed %d, on time %d; want %d, %d, %d", skewed, delayed, onTime, tt.skewed, tt.delayed, tt.onTim)
			}
			if got := testutil.ToFloat64(m.Skewed); got != float64(tt.skewed) {
				t.Errorf("clock_skewed counter %v, want %d", got, tt.skewed)
			}
			if got := testutil.ToFloat64(m.Delayed); got != float64(tt.delayed) {
				t.Errorf("delayed counter %v, want %d", got, tt.delayed)
			}
		})
	}
}

// parkedRejections counts the rejections the dead-letter entries record:
// one for a message rejected whole, else each rejected reading.
func parkedRejections(dl *DeadLetter) int {
	n := 0
	for _, e := range dl.Recent() {
		if len(e.Rejected) == 0 {
			n++
		}
		n += len(e.Rejected) + e.RejectedMore
	}
	return n
}

// TestProcessRegistryOrderHint: a reading is matched to its own site's
// entry whatever order its message lists the sensors in, also when the
// entry after the last one matched has the same sensor id at another
// site.
func TestProcessRegistryOrderHint(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(),
		[]sensors.Site{{ID: "a", Sector: sensors.SectorHazchem}, {ID: "b", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{
			{ID: "X", Site: "a", Kind: "combustible_gas"},
			{ID: "Y", Site: "a", Kind: "pressure"},
			{ID: "Y", Site: "b", Kind: "h2s"},
			{ID: "Z", Site: "b", Kind: "combustible_gas"},
		})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, site string
		sensors    []string
	}{
		{"registry order", "a", []string{"X", "Y"}},
		{"reversed", "a", []string{"Y", "X"}},
		{"next entry same id at another site", "a", []string{"X", "Y", "Y"}},
		{"second site", "b", []string{"Y", "Z", "Y"}},
		{"unknown between known", "b", []string{"Y", "Q", "Z"}},
	}
	now := time.UnixMilli(1764345600000)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics(nil)
			dl, err := OpenDeadLetter(DeadLetterOptions{Path: filepath.Join(t.TempDir(), "dl.jsonl")})
			if err != nil {
				t.Fatal(err)
			}
			defer dl.Close()
			p := NewProcessor(reg, Limits{}, NewRejecter(m, dl, slog.New(slog.DiscardHandler), time.Minute), m, nil)
			var items []string
			for i, id := range tt.sensors {
				items = append(items, `{"sensor":"`+id+`","value":1,"ts":`+strconv.Itoa(1764345600000+i)+`}`)
			}
			out := p.Process("riskmon/v1/"+tt.site+"/gw/readings", []byte(`{"readings":[`+strings.Join(items, ",")+`]}`), now).Readings
			var want []*sensors.Sensor
			for _, id := range tt.sensors {
				if s, ok := reg.Lookup(tt.site, id); ok {
					want = append(want, s)
				}
			}
			if len(out) != len(want) {
				t.Fatalf("%d readings accepted, want %d", len(out), len(want))
			}
			for i, r := range out {
				if r.Ref != want[i] || r.Site != tt.site || r.Sensor != want[i].ID || r.Kind != want[i].Kind {
					t.Errorf("reading %d: %s/%s kind %s ref %p, want %s/%s kind %s ref %p", i, r.Site, r.Sensor, r.Kind, r.Ref, tt.site, want[i].ID, want[i].Kind, want[i])
				}
			}
		})
	}
}

// TestProcessHintAcrossMessages: where a site's previous message left
// off, and the site's first sensor, are only guesses: whatever the
// messages list, in whatever order, across sites and across a registry
// reload, each reading is matched to its own site's entry of the
// registry in force.
func TestProcessHintAcrossMessages(t *testing.T) {
	newReg := func() *sensors.Registry {
		reg, err := sensors.NewRegistry(sensors.DefaultCatalog(),
			[]sensors.Site{{ID: "a", Sector: sensors.SectorHazchem}, {ID: "b", Sector: sensors.SectorHazchem}},
			[]sensors.Sensor{
				{ID: "X", Site: "a", Kind: "combustible_gas"},
				{ID: "Y", Site: "a", Kind: "pressure"},
				{ID: "Z", Site: "a", Kind: "h2s"},
				{ID: "Y", Site: "b", Kind: "h2s"},
				{ID: "W", Site: "b", Kind: "combustible_gas"},
			})
		if err != nil {
			t.Fatal(err)
		}
		return reg
	}
	type msg struct {
		site    string
		sensors []string
		reload  bool // a new registry is in force from this message on
	}
	tests := []struct {
		name string
		msgs []msg
	}{
		{"halves in turn", []msg{{"a", []string{"X", "Y"}, false}, {"a", []string{"Z"}, false}, {"a", []string{"X", "Y"}, false}, {"a", []string{"Z"}, false}}},
		{"all at once, again and again", []msg{{"a", []string{"X", "Y", "Z"}, false}, {"a", []string{"X", "Y", "Z"}, false}}},
		{"same id at the next site", []msg{{"a", []string{"Z"}, false}, {"b", []string{"Y"}, false}, {"a", []string{"Y"}, false}, {"b", []string{"Y", "W"}, false}}},
		{"out of order", []msg{{"a", []string{"Z", "X"}, false}, {"a", []string{"Y"}, false}, {"a", []string{"Y", "X"}, false}}},
		{"unknown first", []msg{{"a", []string{"Q"}, false}, {"a", []string{"X"}, false}, {"b", []string{"Q", "W"}, false}}},
		{"left off at another site's id", []msg{{"a", []string{"X"}, false}, {"b", []string{"Y"}, false}}},
		{"registry reloaded", []msg{{"a", []string{"X", "Y"}, false}, {"a", []string{"Z"}, true}, {"a", []string{"X"}, false}, {"b", []string{"Y"}, true}}},
	}
	now := time.UnixMilli(1764345600000)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newReg()
			ptr := sensors.NewProvider(reg)
			m := NewMetrics(nil)
			dl, err := OpenDeadLetter(DeadLetterOptions{Path: filepath.Join(t.TempDir(), "dl.jsonl")})
			if err != nil {
				t.Fatal(err)
			}
			defer dl.Close()
			p := NewProcessor(reg, Limits{}, NewRejecter(m, dl, slog.New(slog.DiscardHandler), time.Minute), m, nil)
			p.follow = ptr
			for n, mg := range tt.msgs {
				if mg.reload {
					reg = newReg()
					ptr.Set(reg)
				}
				var items []string
				for i, id := range mg.sensors {
					items = append(items, `{"sensor":"`+id+`","value":1,"ts":`+strconv.Itoa(1764345600000+100*n+i)+`}`)
				}
				out := p.Process("riskmon/v1/"+mg.site+"/gw/readings", []byte(`{"readings":[`+strings.Join(items, ",")+`]}`), now).Readings
				var want []*sensors.Sensor
				for _, id := range mg.sensors {
					if s, ok := reg.Lookup(mg.site, id); ok {
						want = append(want, s)
					}
				}
				if len(out) != len(want) {
					t.Fatalf("message %d: %d readings accepted, want %d", n, len(out), len(want))
				}
				for i, r := range out {
					if r.Ref != want[i] || r.Site != mg.site || r.Kind != want[i].Kind {
						t.Errorf("message %d reading %d: %s/%s kind %s ref %p, want %s/%s kind %s ref %p", n, i, r.Site, r.Sensor, r.Kind, r.Ref, mg.site, want[i].ID, want[i].Kind, want[i])
					}
				}
			}
		})
	}
}

// BenchmarkProcessFleet decodes and validates batches of 10 readings
// from 1,000 sites of 20 sensors, each gateway listing its sensors in
// registry order, as the load runs' publisher does. The messages come in
// a shuffled order, as a fleet's gateways interleave theirs, so the
// registry entries a message needs are rarely in the cache.
func BenchmarkProcessFleet(b *testing.B) { benchProcessFleet(b, false) }

// BenchmarkProcessFleetEvicted is the same with the CPU caches emptied
// before each message (untimed), as a collector sharing its cores with a
// broker and InfluxDB meets them: there a reading costs several times
// what the warm loop shows, mostly in cache misses, and a change that
// saves a memory access shows here long before it rises above the noise
// of an end-to-end run.
func BenchmarkProcessFleetEvicted(b *testing.B) { benchProcessFleet(b, true) }

// BenchmarkEncodeFleetEvicted adds what a worker does next with the
// readings before they reach the spool: their line protocol. Where the
// registry's strings lie shows there too, as each line copies the
// reading's kind, sector, sensor and site.
func BenchmarkEncodeFleetEvicted(b *testing.B) { benchFleet(b, true, true) }

// BenchmarkEncodeFleet is BenchmarkProcessFleet with the line protocol:
// the warm loop, where the bytes a line copies and checks are not hidden
// behind the cache misses.
func BenchmarkEncodeFleet(b *testing.B) { benchFleet(b, false, true) }

func benchProcessFleet(b *testing.B, evict bool) { benchFleet(b, evict, false) }

func benchFleet(b *testing.B, evict, encode bool) {
	const sites, perSite = 1000, 20
	var ss []sensors.Site
	var sn []sensors.Sensor
	for i := range sites {
		site := "site-" + strconv.Itoa(i)
		ss = append(ss, sensors.Site{ID: site, Sector: sensors.SectorHazchem})
		for j := range perSite {
			sn = append(sn, sensors.Sensor{ID: "GT-" + strconv.Itoa(100+j), Site: site, Kind: "combustible_gas", Gateway: "gw-" + site})
		}
	}
	built, err := sensors.NewRegistry(sensors.DefaultCatalog(), ss, sn)
	if err != nil {
		b.Fatal(err)
	}
	// Read back from a registry file, as the service loads it: where its
	// strings lie in memory is part of what a reading costs.
	path := filepath.Join(b.TempDir(), "fleet.yaml")
	if err := built.WriteYAMLFile(path); err != nil {
		b.Fatal(err)
	}
	reg, err := sensors.LoadFile(sensors.DefaultCatalog(), path)
	if err != nil {
		b.Fatal(err)
	}
	type msg struct {
		topic   string
		payload []byte
	}
	// Rounds of every gateway's two messages, each round shuffled, with
	// the seq each gateway numbers its batches with, as the load runs'
	// publisher sends them. Past the last round the seqs repeat, which
	// the tracker takes as redeliveries: as cheap as in-order ones.
	type part struct{ site, half int }
	var order []part
	rng := rand.New(rand.NewPCG(1, 2))
	for range 8 {
		round := make([]part, 0, 2*sites)
		for i := range sites {
			round = append(round, part{i, 0}, part{i, 1})
		}
		rng.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		order = append(order, round...)
	}
	seq := make([]int, sites)
	var msgs []msg
	for _, pt := range order {
		var items []string
		for j := range 10 {
			items = append(items, `{"sensor":"GT-`+strconv.Itoa(100+pt.half*10+j)+`","value":2.5}`)
		}
		seq[pt.site]++
		msgs = append(msgs, msg{"riskmon/v1/site-" + strconv.Itoa(pt.site) + "/gw-site-" + strconv.Itoa(pt.site) + "/readings",
			[]byte(`{"ts":1764345600000,"seq":` + strconv.Itoa(seq[pt.site]) + `,"readings":[` + strings.Join(items, ",") + `]}`)})
	}
	m := NewMetrics(nil)
	dl, _ := OpenDeadLetter(DeadLetterOptions{})
	p := NewProcessor(reg, Limits{}, NewRejecter(m, dl, slog.New(slog.DiscardHandler), time.Minute), m, nil)
	now := time.UnixMilli(1764345600000)
	// Larger than the last-level cache of the machines this runs on.
	var junk []byte
	if evict {
		junk = make([]byte, 64<<20)
	}
	var lines []byte
	var enc storage.ReadingEncoder // as the workers write them
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if evict {
			b.StopTimer()
			for j := 0; j < len(junk); j += 64 {
				junk[j]++
			}
			b.StartTimer()
		}
		mg := msgs[i%len(msgs)]
		i++
		out := p.Process(mg.topic, mg.payload, now).Readings
		if len(out) != 10 {
			b.Fatalf("%d readings", len(out))
		}
		if encode {
			lines = lines[:0]
			for k := range out {
				lines = enc.AppendReading(lines, &out[k])
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10), "ns/reading")
}
