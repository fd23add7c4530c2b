package alerting

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// rampCase is a leak: flat, then from onset a straight or accelerating
// rise that crosses the first setpoint after rise.
type rampCase struct {
	kind     sensors.KindID
	base, sd float64
	rise     time.Duration // onset to the first alarm
	curved   bool          // exponential rather than straight
}

// runRamp returns the forecast's first fired event and the first
// threshold alarm, both by device time after onset, and the ETA the
// forecast stated (from its Setpoint and message are not parsed: the
// engine's estimate is read back through forecast()).
func runRamp(t *testing.T, c rampCase, seed uint64) (warn, alarm time.Duration, eta time.Duration, ok bool) {
	t.Helper()
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "s-1"}},
		[]sensors.Sensor{{ID: "X-1", Site: "s-1", Kind: c.kind, Gateway: "gw-1"}})
	if err != nil {
		t.Fatal(err)
	}
	var sink collect
	e, err := NewEngine(reg, &sink, Options{})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := sensors.DefaultCatalog().Kind(c.kind)
	sp := k.Setpoints[0].Value
	rng := rand.New(rand.NewPCG(seed, 99))
	const phi = 0.7
	innov := c.sd * math.Sqrt(1-phi*phi)
	x := 0.0
	onset := 10 * time.Minute
	lift := sp - c.base
	// The exponential a·(e^{t/τ}-1) with τ a third of the rise: the value doubles every 0.23 of it, and at half the rise it has covered a fifth of its way.
	tau := c.rise.Seconds() / 3
	a := lift / (math.Exp(c.rise.Seconds()/tau) - 1)
	var fcAt time.Duration = -1
	for d := time.Duration(0); d < onset+2*c.rise; d += k.Interval {
		x = phi*x + innov*rng.NormFloat64()
		v := c.base + x
		if d > onset {
			s := (d - onset).Seconds()
			if c.curved {
				v += a * (math.Exp(s/tau) - 1)
			} else {
				v += lift * s / c.rise.Seconds()
			}
		}
		e.Evaluate(sensors.Reading{Site: "s-1", Sensor: "X-1", Value: v, Time: t0.Add(d)})
		for _, ev := range sink.all() {
			if ev.Type == EventFired && ev.Rule == string(c.kind)+"_forecast" && fcAt < 0 && ev.At.Sub(t0) > onset {
				fcAt = d
				sub := e.rules().subjects[subjectKey{"s-1", "X-1"}]
				for _, rs := range sub.early {
					if rs.rule.kind == kindForecast {
						est, _ := rs.rule.forecast(sub.win, v, t0.Add(d).UnixNano(), true)
						eta = time.Duration(est.eta)
					}
				}
			}
		}
	}
	warn, alarm = -1, -1
	for _, ev := range sink.all() {
		d := ev.At.Sub(t0) - onset
		if ev.Type == EventFired && ev.Rule == string(c.kind)+"_forecast" && warn < 0 && d > 0 {
			warn = d
		}
		if ev.Type == EventFired && ev.Rule == string(c.kind)+"_high" && alarm < 0 {
			alarm = d
		}
	}
	return warn, alarm, eta, warn >= 0 && alarm >= 0 && warn < alarm
}

// TestForecastLeadAndETA: straight and accelerating leaks of 90 s to
// 5 min from onset to alarm, in AR(1) noise, over several seeds. The
// forecast warns in the first half of the rise (median) for both shapes,
// and the time it states is within a factor of two of the time the alarm
// really took (median). A fit over a window still full of the flat
// readings from before the onset says several times too long.
func TestForecastLeadAndETA(t *testing.T) {
	for _, curved := range []bool{false, true} {
		var leads, errs []float64
		missed := 0
		for _, kind := range []struct {
			k        sensors.KindID
			base, sd float64
		}{{"combustible_gas", 3, 1}, {"co", 4, 1}} {
			for _, rise := range []time.Duration{90 * time.Second, 2 * time.Minute, 3 * time.Minute, 5 * time.Minute} {
				for seed := range uint64(5) {
					c := rampCase{kind: kind.k, base: kind.base, sd: kind.sd, rise: rise, curved: curved}
					warn, alarm, eta, ok := runRamp(t, c, seed)
					if !ok {
						missed++
						t.Logf("%s %s curved=%v seed %d: warn %s alarm %s", kind.k, rise, curved, seed, warn, alarm)
						continue
					}
					leads = append(leads, float64(alarm-warn)/float64(alarm))
					errs = append(errs, eta.Seconds()/(alarm-warn).Seconds())
				}
			}
		}
		slices.Sort(leads)
		slices.Sort(errs)
		name := fmt.Sprintf("curved=%v", curved)
		if len(leads) == 0 {
			t.Fatalf("%s: no warning at all", name)
		}
		ml, me := leads[len(leads)/2], errs[len(errs)/2]
		t.Logf("%s: %d warned, %d missed; median lead %.0f %% of onset→alarm; median stated/actual time %.2f", name, len(leads), missed, 100*ml, me)
		if missed > 0 {
			t.Errorf("%s: %d ramps without a warning before the alarm", name, missed)
		}
		// Straight ramps: at least half the ramp as lead, the stated time
		// within a factor of two. Accelerating ones warn later (about a
		// third of the ramp with this steep a curve and this much noise,
		// with the departure bar that holds on noise without spikes; see
		// docs/alerting.md), and their stated time errs long by up to
		// about two: the floor here keeps them from slipping back to the
		// 29 % a bar on the model's departure alone gave.
		wantLead, wantErr := 0.5, 2.0
		if curved {
			wantLead, wantErr = 0.32, 2.5
		}
		if ml < wantLead {
			t.Errorf("%s: median lead %.0f %% of onset→alarm, want at least %.0f %%", name, 100*ml, 100*wantLead)
		}
		if me > wantErr || me < 0.5 {
			t.Errorf("%s: median stated/actual time to alarm %.2f, want within 0.5-%.1f", name, me, wantErr)
		}
	}
}

// TestForecastUpdate: a warning whose setpoint comes due in half the time
// it announced, or sooner, is restated as an update of the same alert,
// with the new time; an estimate that merely wobbles is not.
func TestForecastUpdate(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "s-1"}},
		[]sensors.Sensor{{ID: "X-1", Site: "s-1", Kind: "combustible_gas", Gateway: "gw-1"}})
	if err != nil {
		t.Fatal(err)
	}
	var sink collect
	e, err := NewEngine(reg, &sink, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	v := 1.0
	for i := range 200 {
		d := time.Duration(i) * 5 * time.Second
		switch {
		case d < 3*time.Minute:
		case d < 6*time.Minute:
			v += 2.0 / 12 // 2 %LEL/min: 25 about 10 min away
		default:
			v += 8.0 / 12 // then 8 %LEL/min
		}
		e.Evaluate(sensors.Reading{Site: "s-1", Sensor: "X-1", Value: v + 0.2*rng.NormFloat64(), Time: t0.Add(d)})
		if v >= 25 {
			break
		}
	}
	var fired, updated []Event
	for _, ev := range sink.all() {
		if ev.Rule != "combustible_gas_forecast" {
			continue
		}
		switch ev.Type {
		case EventFired:
			fired = append(fired, ev)
		case EventUpdated:
			updated = append(updated, ev)
		}
	}
	if len(fired) != 1 {
		t.Fatalf("forecast fired %d times, want once: %+v", len(fired), fired)
	}
	if len(updated) == 0 {
		t.Fatalf("no update after the leak quadrupled its rate; fired %q", fired[0].Message)
	}
	for _, u := range updated {
		if u.AlertID != fired[0].AlertID || u.Level != fired[0].Level || !strings.Contains(u.Message, "sooner than forecast") {
			t.Errorf("update %+v, want the same alert and level, saying it is sooner", u)
		}
	}
	if len(updated) > 3 {
		t.Errorf("%d updates, want only those that halve the time announced", len(updated))
	}
	t.Logf("fired: %s", fired[0].Message)
	for _, u := range updated {
		t.Logf("updated at %s: %s", u.At.Sub(t0), u.Message)
	}
}
