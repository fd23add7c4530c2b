package simulator

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/riskmon/riskmon/protocol"
	"github.com/riskmon/riskmon/protocol/lineproto"
	"github.com/riskmon/riskmon/protocol/sparkplug"
	"github.com/riskmon/riskmon/protocol/sparkplug/spb"
	"google.golang.org/protobuf/proto"
)

func TestAppendLines(t *testing.T) {
	points := []Point{{Sensor: "GT-101", Value: 12.5, Decimals: 1}, {Sensor: "odd id,x=1", Value: 3, Decimals: 0}}
	buf := AppendLines(nil, 1764345600000, points)
	want := "reading,sensor=GT-101 value=12.5 1764345600000000000\nreading,sensor=odd\\ id\\,x\\=1 value=3 1764345600000000000\n"
	if string(buf) != want {
		t.Fatalf("got %q, want %q", buf, want)
	}
	rs, err := lineproto.Decode(buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if r.Reject != "" || r.Sensor != points[i].Sensor || r.Value != points[i].Value || r.Time.UnixMilli() != 1764345600000 {
			t.Errorf("line %d decoded as %+v", i, r)
		}
	}
	if n := testing.AllocsPerRun(100, func() { buf = AppendLines(buf[:0], 1764345600000, points) }); n != 0 {
		t.Errorf("AppendLines allocates %v times with a buffer that fits", n)
	}
}

// TestMalformedOtherFormats checks every injected kind is refused by
// riskmon's own decoders, as a whole message or line by line.
func TestMalformedOtherFormats(t *testing.T) {
	for k := range malformedKinds {
		t.Run(k.String(), func(t *testing.T) {
			rs, err := lineproto.Decode(AppendMalformedLP(nil, k, 1764345600000, "GT-101"), nil)
			if err == nil {
				for _, r := range rs {
					if r.Reject == "" {
						t.Errorf("lp: reading %+v accepted", r)
					}
				}
			}
			tr := sparkplug.NewTracker()
			_, err = tr.Handle(sparkplug.NodeTopic("gas-01", sparkplug.NDATA, "gw1"), AppendMalformedSparkplug(nil, k, 1764345600000), time.Now())
			var se *protocol.Error
			if !errors.As(err, &se) || se.Reason != sparkplug.ReasonMalformed {
				t.Errorf("sparkplug: got %v, want a malformed payload", err)
			}
		})
	}
}

func TestFleetFormats(t *testing.T) {
	f := DemoFleet(1)
	f.Format = FormatLP
	f.Formats = map[string]Format{"gas-01": FormatSparkplug, "gas-01/gw2": FormatJSON}
	for _, tt := range []struct {
		site, gw string
		want     Format
	}{{"gas-01", "gw1", FormatSparkplug}, {"gas-01", "gw2", FormatJSON}, {"hz-01", "gw1", FormatLP}} {
		if got := f.FormatOf(tt.site, tt.gw); got != tt.want {
			t.Errorf("%s/%s: %s, want %s", tt.site, tt.gw, got, tt.want)
		}
	}
	if err := f.checkFormats(); err != nil {
		t.Error(err)
	}
	f.Formats["gas-01/gw9"] = FormatLP
	if err := f.checkFormats(); err == nil {
		t.Error("a format for an unknown gateway was accepted")
	}
	f.Formats = map[string]Format{"gas-01": "xml"}
	if err := f.checkFormats(); err == nil {
		t.Error("an unknown format was accepted")
	}
}

// wireReadings decodes whatever the simulator published, in any format,
// the way riskmon does, keyed "site/sensor/epoch ms".
type wireReadings struct {
	t         *testing.T
	tracker   *sparkplug.Tracker
	values    map[string]float64
	malformed int
	nulls     int                 // BIRTH metrics sent as null for want of a reading
	births    map[string][]uint64 // site/gateway -> bdSeq of each NBIRTH
	spSeqs    map[string][]uint64 // site/gateway -> seq of NBIRTH and NDATA
}

func newWireReadings(t *testing.T) *wireReadings {
	return &wireReadings{t: t, tracker: &sparkplug.Tracker{}, values: map[string]float64{},
		births: map[string][]uint64{}, spSeqs: map[string][]uint64{}}
}

func (w *wireReadings) add(site, sensor string, ts time.Time, v float64) {
	key := fmt.Sprintf("%s/%s/%d", site, sensor, ts.UnixMilli())
	if _, dup := w.values[key]; dup {
		w.t.Errorf("reading %s twice", key)
	}
	w.values[key] = v
}

func (w *wireReadings) decode(m message) {
	t := w.t
	if strings.HasPrefix(m.topic, sparkplug.Namespace+"/") {
		res, err := w.tracker.Handle(m.topic, m.payload, time.Now())
		if err != nil {
			w.malformed++
			return
		}
		if res.NeedRebirth {
			t.Errorf("%s: tracker asks for a rebirth", m.topic)
		}
		var p spb.Payload
		if err := proto.Unmarshal(m.payload, &p); err != nil {
			t.Fatal(err)
		}
		key := res.Site + "/" + res.Gateway
		switch res.Type {
		case sparkplug.NBIRTH:
			bd := p.Metrics[0]
			if bd.GetName() != bdSeqMetric {
				t.Errorf("%s: first metric %q, want bdSeq", m.topic, bd.GetName())
			}
			w.births[key] = append(w.births[key], bd.GetLongValue())
			w.spSeqs[key] = append(w.spSeqs[key], p.GetSeq())
		case sparkplug.NDATA:
			w.spSeqs[key] = append(w.spSeqs[key], p.GetSeq())
		}
		for _, r := range res.Readings {
			if r.Reject == sparkplug.ReasonNullValue && res.Type == sparkplug.NBIRTH {
				w.nulls++
				continue
			}
			if r.Reject != "" {
				t.Errorf("%s: metric %s rejected: %s %s", m.topic, r.Sensor, r.Reject, r.Detail)
				continue
			}
			w.add(res.Site, r.Sensor, r.Time, r.Value)
		}
		return
	}
	parts := strings.Split(m.topic, "/")
	if len(parts) != 5 || parts[0] != "riskmon" {
		t.Fatalf("unexpected topic %q", m.topic)
	}
	site := parts[2]
	switch parts[4] {
	case "status":
	case "lp":
		rs, err := lineproto.Decode(m.payload, nil)
		if err != nil || len(rs) == 0 || rs[0].Reject != "" {
			w.malformed++
			return
		}
		for _, r := range rs {
			if r.Reject != "" {
				t.Errorf("%s: line rejected: %s %s", m.topic, r.Reject, r.Detail)
				continue
			}
			w.add(site, r.Sensor, r.Time, r.Value)
		}
	case "readings":
		b, err := strictDecode(m.payload)
		if err != nil {
			w.malformed++
			return
		}
		var ms int64
		fmt.Sscan(string(b.TS), &ms)
		for _, r := range *b.Readings {
			w.add(site, *r.Sensor, time.UnixMilli(ms), *r.Value)
		}
	default:
		t.Fatalf("unexpected topic %q", m.topic)
	}
}

// runFleet plays fleet to the end and decodes everything published.
func runFleet(t *testing.T, fleet Fleet, maxReadings, malformed int) (Stats, *wireReadings) {
	t.Helper()
	broker := startBroker(t)
	sub := subscribe(t, broker, "#")
	p, err := NewPublisher(Options{
		Broker: broker, Fleet: fleet, Interval: time.Second, Speed: math.Inf(1),
		MaxReadings: maxReadings, Malformed: malformed, Seed: 7, Start: deviceStart, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Run(testContext(t))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if st.Readings != int64(maxReadings) || st.Malformed != int64(malformed) || st.Failed != 0 || st.Unconfirmed != 0 {
		t.Fatalf("stats %+v", st)
	}
	w := newWireReadings(t)
	var spGateways, statusMsgs int
	for _, g := range fleet.Gateways() {
		if g.Format == FormatSparkplug {
			spGateways++
		} else {
			statusMsgs += 2 // online, offline
		}
	}
	// Every good and malformed message, a status pair per riskmon
	// gateway and a final NDEATH per Sparkplug node.
	for _, m := range sub.waitFor(t, int(st.Messages+st.Malformed)+statusMsgs+spGateways) {
		w.decode(m)
	}
	if w.malformed != malformed {
		t.Errorf("%d malformed messages arrived, want %d", w.malformed, malformed)
	}
	return st, w
}

// TestPublisherMixedFormats plays the demo fleet once all JSON and once
// with line protocol and Sparkplug gateways among them: the readings
// riskmon decodes must be the same, value for value. 300 rounds make the
// Sparkplug seq wrap.
func TestPublisherMixedFormats(t *testing.T) {
	fleet := DemoFleet(1)
	const total = 40 * 300
	_, ref := runFleet(t, fleet, total, 0)

	fleet.Formats = map[string]Format{"gas-01": FormatSparkplug, "pipe-01": FormatLP, "hz-01/gw2": FormatSparkplug, "coal-01/gw2": FormatLP}
	_, got := runFleet(t, fleet, total, 10)
	if len(got.values) != total || len(ref.values) != total {
		t.Fatalf("decoded %d readings, reference %d, want %d", len(got.values), len(ref.values), total)
	}
	for key, want := range ref.values {
		v, ok := got.values[key]
		if !ok || math.Abs(v-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: got %v (present %v), want %v", key, v, ok, want)
		}
	}
	for _, gw := range []string{"gas-01/gw1", "gas-01/gw2", "hz-01/gw2"} {
		seqs := got.spSeqs[gw]
		if len(seqs) != 300 || len(got.births[gw]) != 1 || got.births[gw][0] != 0 {
			t.Fatalf("%s: %d messages, births with bdSeq %v; want 300 and one birth with bdSeq 0", gw, len(seqs), got.births[gw])
		}
		for i, s := range seqs {
			if s != uint64(i%256) {
				t.Fatalf("%s: message %d has seq %d, want %d", gw, i, s, i%256)
			}
		}
	}
}

// TestSparkplugRebirth asks a running edge node to rebirth, as riskmon
// does after it missed the NBIRTH, and checks the node answers with a
// new NBIRTH of the same session, seq restarting at 0.
func TestSparkplugRebirth(t *testing.T) {
	broker := startBroker(t)
	fleet := DemoFleet(1)
	fleet.Formats = map[string]Format{"gas-01/gw2": FormatSparkplug}
	sub := subscribe(t, broker, "spBv1.0/gas-01/+/gw2")
	p, err := NewPublisher(Options{
		Broker: broker, Fleet: fleet, Interval: time.Second, Speed: 50,
		Duration: 40 * time.Second, Seed: 1, Start: deviceStart, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var st Stats
	go func() {
		var err error
		st, err = p.Run(testContext(t))
		done <- err
	}()

	// Wait for a few NDATA, then ask for a rebirth.
	sub.waitFor(t, 5)
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID("test-host")
	host := mqtt.NewClient(o)
	if tok := host.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("host connect: %v", tok.Error())
	}
	defer host.Disconnect(100)
	topic, payload := sparkplug.RebirthRequest("gas-01", "gw2")
	if tok := host.Publish(topic, 0, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("rebirth request: %v", tok.Error())
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	w := newWireReadings(t)
	var sent int64
	for _, g := range st.Gateways {
		if g.Site == "gas-01" && g.Gateway == "gw2" {
			sent = g.Messages
		}
	}
	// Its messages, the rebirth request and the final NDEATH.
	msgs := sub.waitFor(t, int(sent)+2)
	for _, m := range msgs {
		w.decode(m)
	}
	births := w.births["gas-01/gw2"]
	if len(births) != 2 || births[0] != births[1] {
		t.Fatalf("births with bdSeq %v, want two of one session", births)
	}
	seqs := w.spSeqs["gas-01/gw2"]
	restart := -1
	for i := 1; i < len(seqs); i++ {
		if seqs[i] == 0 {
			restart = i
			break
		}
		if seqs[i] != uint64(i) {
			t.Fatalf("seqs %v do not count up from the first birth", seqs)
		}
	}
	if restart < 0 || len(seqs) != 41 {
		t.Fatalf("seqs %v: want 41 messages with a restart at 0", seqs)
	}
	for i := restart; i < len(seqs); i++ {
		if seqs[i] != uint64(i-restart) {
			t.Fatalf("seqs %v do not count up from the rebirth", seqs)
		}
	}
	if got := len(w.values); got != int(st.BySensor["gas-01/GT-201"])*5 {
		t.Errorf("decoded %d readings, want %d", got, st.BySensor["gas-01/GT-201"]*5)
	}
}

// TestSparkplugOffline checks a Sparkplug node's outage: a clean one
// publishes its NDEATH itself and keeps its session, an abrupt one drops
// the connection so the broker publishes the will, and comes back in a
// new session with the next bdSeq. Either way the node is born again.
func TestSparkplugOffline(t *testing.T) {
	for _, abrupt := range []bool{false, true} {
		t.Run(fmt.Sprintf("abrupt=%v", abrupt), func(t *testing.T) {
			broker := startBroker(t)
			fleet := DemoFleet(1)
			fleet.Formats = map[string]Format{"pipe-01": FormatSparkplug}
			sub := subscribe(t, broker, "spBv1.0/pipe-01/+/gw1")
			p, err := NewPublisher(Options{Broker: broker, Fleet: fleet, Interval: time.Second, Speed: math.Inf(1),
				Scripted: []Incident{GatewayOffline{Site: "pipe-01", ID: "gw1", Start: 10 * time.Second, Duration: 5 * time.Second, Abrupt: abrupt}},
				Duration: 19 * time.Second, Seed: 1, Start: deviceStart, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Run(testContext(t)); err != nil {
				t.Fatal(err)
			}
			// 20 ticks less 5 of the outage, and two NDEATHs.
			tr := sparkplug.NewTracker()
			var types []string
			var deaths []uint64
			for _, m := range sub.waitFor(t, 17) {
				res, err := tr.Handle(m.topic, m.payload, time.Now())
				if err != nil {
					t.Fatalf("%s: %v", m.topic, err)
				}
				if res.StaleDeath || res.NeedRebirth {
					t.Errorf("%s: %+v", m.topic, res)
				}
				types = append(types, res.Type.String())
				if res.Type == sparkplug.NDEATH {
					var pl spb.Payload
					if err := proto.Unmarshal(m.payload, &pl); err != nil {
						t.Fatal(err)
					}
					deaths = append(deaths, pl.Metrics[0].GetLongValue())
				}
			}
			want := "NBIRTH" + strings.Repeat(" NDATA", 9) + " NDEATH NBIRTH" + strings.Repeat(" NDATA", 4) + " NDEATH"
			if got := strings.Join(types, " "); got != want {
				t.Fatalf("messages\n%s\nwant\n%s", got, want)
			}
			wantDeaths := []uint64{0, 0}
			if abrupt {
				wantDeaths = []uint64{0, 1}
			}
			if fmt.Sprint(deaths) != fmt.Sprint(wantDeaths) {
				t.Errorf("NDEATH bdSeqs %v, want %v", deaths, wantDeaths)
			}
		})
	}
}

func TestScenarioFormats(t *testing.T) {
	sc, err := LoadScenario("scenarios/mixed-formats.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Format{}
	for _, g := range sc.Fleet.Gateways() {
		got[g.Site+"/"+g.ID] = g.Format
	}
	for gw, want := range map[string]Format{"gas-01/gw1": FormatSparkplug, "gas-01/gw2": FormatSparkplug, "pipe-01/gw1": FormatLP,
		"hz-01/gw1": FormatJSON, "hz-01/gw2": FormatLP, "coal-01/gw1": FormatJSON} {
		if got[gw] != want {
			t.Errorf("%s: format %q, want %q", gw, got[gw], want)
		}
	}
	for _, bad := range []string{"formats: {gas-01: xml}", "formats: {gas-09: lp}", "format: csv"} {
		src := "duration: 1m\nfleet:\n  sites_per_sector: 1\n  " + bad + "\n"
		if _, err := ParseScenario("bad.yaml", strings.NewReader(src)); err == nil || !strings.Contains(err.Error(), "bad.yaml:4:") {
			t.Errorf("%s: got %v, want an error on line 4", bad, err)
		}
	}
}

// TestSparkplugPartialBirth cuts a run inside the first round of a
// Sparkplug node: its NBIRTH must still define every metric, the ones
// without a reading as null, and no more readings than asked for arrive.
func TestSparkplugPartialBirth(t *testing.T) {
	fleet := DemoFleet(1)
	fleet.Formats = map[string]Format{"pipe-01": FormatSparkplug}
	// hz-01, coal-01 and tail-01 come first with 27 sensors; pipe-01/gw1
	// gets 2 of its 5.
	const total = 29
	_, w := runFleet(t, fleet, total, 0)
	if len(w.values) != total || w.nulls != 3 {
		t.Fatalf("%d readings and %d null metrics, want %d and 3", len(w.values), w.nulls, total)
	}
}
