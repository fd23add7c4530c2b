package alerting

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/sensors"
)

// gatewayFleet has sites*gateways*perGateway combustible gas detectors
// and tank levels (every tenth, without setpoints), each gateway reporting
// perGateway sensors.
func gatewayFleet(t testing.TB, sites, gateways, perGateway int) *sensors.Registry {
	t.Helper()
	var ss []sensors.Sensor
	var sts []sensors.Site
	for s := range sites {
		site := fmt.Sprintf("site-%d", s)
		sts = append(sts, sensors.Site{ID: site, Sector: sensors.SectorHazchem})
		for g := range gateways {
			for i := range perGateway {
				kind := sensors.KindID("combustible_gas")
				if i%10 == 9 {
					kind = "tank_level"
				}
				ss = append(ss, sensors.Sensor{ID: fmt.Sprintf("GT-%d-%d", g, i), Site: site, Kind: kind, Gateway: fmt.Sprintf("gw-%d", g)})
			}
		}
	}
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), sts, ss)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// messages is rounds of one message per gateway, a reading of each of its
// sensors, the gateways in a shuffled order each round; values rise and
// fall through the setpoints so alerts are raised and cleared.
func messages(reg *sensors.Registry, rounds int, withRef bool) [][]sensors.Reading {
	byGW := map[string][]*sensors.Sensor{}
	var order []string
	for _, s := range reg.Sensors() {
		k := s.Site + "/" + s.Gateway
		if byGW[k] == nil {
			order = append(order, k)
		}
		byGW[k] = append(byGW[k], s)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	var out [][]sensors.Reading
	for r := range rounds {
		rnd.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, k := range order {
			var msg []sensors.Reading
			for i, s := range byGW[k] {
				v := float64((r*7+i*3)%60) + rnd.Float64()
				at := t0.Add(time.Duration(r) * 5 * time.Second)
				rd := sensors.Reading{Site: s.Site, Sensor: s.ID, Value: v, Time: at, Received: at}
				if withRef {
					rd.Ref = s
				}
				msg = append(msg, rd)
			}
			out = append(out, msg)
		}
	}
	return out
}

// TestEvaluateAllMatchesEvaluate: a message's readings evaluated together
// raise and clear exactly what the same readings do one by one, in the
// same order, whether they carry their registry entry or not.
func TestEvaluateAllMatchesEvaluate(t *testing.T) {
	reg := gatewayFleet(t, 3, 4, 10)
	for _, withRef := range []bool{true, false} {
		t.Run(fmt.Sprintf("ref=%v", withRef), func(t *testing.T) {
			msgs := messages(reg, 40, withRef)
			var one, all collect
			e1, err := NewEngine(reg, &one, Options{Registerer: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			e2, err := NewEngine(reg, &all, Options{Registerer: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				for _, r := range m {
					e1.Evaluate(r)
				}
				e2.EvaluateAll(m)
			}
			got, want := all.all(), one.all()
			if len(want) < 100 {
				t.Fatalf("only %d events one by one: the load does not exercise the rules", len(want))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("EvaluateAll gave %d events, Evaluate %d; first difference at %d", len(got), len(want), firstDiff(got, want))
			}
			if s1, s2 := e1.Stats(), e2.Stats(); s1 != s2 {
				t.Errorf("stats %+v, want %+v", s2, s1)
			}
		})
	}
}

func firstDiff(a, b []Event) int {
	for i := range min(len(a), len(b)) {
		if !reflect.DeepEqual(a[i], b[i]) {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestEvaluateAllDuringReload: messages evaluated together while the
// rules are reloaded are never lost nor applied to a retired rule set
// (run with -race).
func TestEvaluateAllDuringReload(t *testing.T) {
	reg := gatewayFleet(t, 2, 3, 10)
	msgs := messages(reg, 200, true)
	e, err := NewEngine(reg, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, m := range msgs {
			e.EvaluateAll(m)
		}
	})
	wg.Go(func() {
		for range 20 {
			if _, err := e.Reload(gatewayFleet(t, 2, 3, 10), Options{}); err != nil {
				t.Error(err)
			}
			_ = e.Active()
		}
	})
	wg.Wait()
	ref, err := NewEngine(reg, nil, Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		for _, r := range m {
			ref.Evaluate(r)
		}
	}
	want := ref.Stats().Evaluations
	if got := e.Stats().Evaluations; got != want {
		t.Errorf("%d evaluations, want %d", got, want)
	}
	last := t0.Add(199 * 5 * time.Second).UnixNano()
	for k, s := range e.rules().subjects {
		if s.last != last {
			t.Errorf("%v: last reading at %s, want %s: a reading went to a retired set", k, unixTime(s.last), unixTime(last))
		}
	}
}

// BenchmarkEvaluateMessages evaluates 100,000 combustible gas detectors
// (10,000 gateways of 10) a message at a time, the gateways in a shuffled
// order, one by one (Evaluate) and together (EvaluateAll).
func BenchmarkEvaluateMessages(b *testing.B) {
	reg := gatewayFleet(b, 100, 100, 10)
	msgs := messages(reg, 1, true)
	for _, bc := range []struct {
		name string
		all  bool
	}{{"one-by-one", false}, {"together", true}} {
		b.Run(bc.name, func(b *testing.B) {
			e, err := NewEngine(reg, nil, Options{Registerer: prometheus.NewRegistry()})
			if err != nil {
				b.Fatal(err)
			}
			round := 0
			step := func(i int) {
				m := msgs[i%len(msgs)]
				if i%len(msgs) == 0 {
					round++
				}
				for j := range m {
					m[j].Time = t0.Add(time.Duration(round) * 5 * time.Second)
					m[j].Value = 2 + 0.001*float64(round%3)
				}
				if bc.all {
					e.EvaluateAll(m)
					return
				}
				for _, r := range m {
					e.Evaluate(r)
				}
			}
			for i := range 3 * len(msgs) {
				step(i)
			}
			b.ReportAllocs()
			n := 0
			for i := 3 * len(msgs); b.Loop(); i++ {
				step(i)
				n += len(msgs[i%len(msgs)])
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/reading")
		})
	}
}
