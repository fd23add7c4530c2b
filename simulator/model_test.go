package simulator

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// wideSignal is a signal of the flow kind (0..100000 m3/h, no default
// setpoints) at 50000, where no part of a model is scaled down.
func wideSignal(t *testing.T, m Model, seed int64, key string) *Signal {
	t.Helper()
	sig, err := NewModelSignal(mustKind(t, "flow"), m, nil, 50000, seed, key)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func meanStd(xs []float64) (mean, std float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(xs)-1))
}

func TestNoiseStatistics(t *testing.T) {
	const n, sigma = 50_000, 10.0
	sig := wideSignal(t, Model{Noise: sigma, Decimals: 3}, 1, "a/b")
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = sig.Sample(time.Duration(i) * time.Second)
	}
	mean, std := meanStd(xs)
	// The standard error of the mean is σ/√n ≈ 0.045; allow 4 of them.
	if math.Abs(mean-50000) > 4*sigma/math.Sqrt(n) {
		t.Errorf("mean %g, want 50000 ± %g", mean, 4*sigma/math.Sqrt(n))
	}
	// Truncation at 4σ takes 0.03 % off the deviation; sampling error
	// is about 0.3 %.
	if math.Abs(std-sigma)/sigma > 0.02 {
		t.Errorf("standard deviation %g, want %g within 2 %%", std, sigma)
	}
	for i, x := range xs {
		if math.Abs(x-50000) > truncZ*sigma+0.0005 {
			t.Fatalf("sample %d: %g is more than 4σ from the baseline", i, x)
		}
	}
}

func TestQuantizationStep(t *testing.T) {
	for _, decimals := range []int{0, 1, 2} {
		t.Run(fmt.Sprint(decimals), func(t *testing.T) {
			sig := wideSignal(t, Model{Noise: 3, Decimals: decimals}, 2, "a/b")
			step := math.Pow10(-decimals)
			var seen []float64
			for i := range 5000 {
				v := sig.Sample(time.Duration(i) * time.Second)
				if q := v / step; math.Abs(q-math.Round(q)) > 1e-6 {
					t.Fatalf("%g is not on the %g grid", v, step)
				}
				seen = append(seen, v)
			}
			slices.Sort(seen)
			seen = slices.Compact(seen)
			smallest := math.Inf(1)
			for i := 1; i < len(seen); i++ {
				smallest = math.Min(smallest, seen[i]-seen[i-1])
			}
			if math.Abs(smallest-step) > step*1e-6 {
				t.Errorf("smallest step between values %g, want %g", smallest, step)
			}
		})
	}
}

func TestDriftSlope(t *testing.T) {
	const rate, span = 0.15, 0.6
	sig := wideSignal(t, Model{Drift: Drift{RatePerHour: rate, Span: span}}, 3, "a/b")
	lo, hi := math.Inf(1), math.Inf(-1)
	steady := 0
	const n = 48 * 60
	for i := range n {
		a, b := sig.Level(time.Duration(i)*time.Minute), sig.Level(time.Duration(i+1)*time.Minute)
		lo, hi = math.Min(lo, a), math.Max(hi, a)
		if math.Abs(math.Abs(b-a)*60-rate) < 1e-9 {
			steady++
		}
	}
	// The drift turns back twice every 4·span/rate = 16 h; every other
	// minute moves at exactly the rate.
	if steady < n-8 {
		t.Errorf("%d of %d minutes move at %g/h, want all but the turns", steady, n, rate)
	}
	// Sampled every minute, the turning points are missed by at most a
	// minute's drift.
	if perMinute := rate / 60; math.Abs(lo-(50000-span)) > perMinute || math.Abs(hi-(50000+span)) > perMinute {
		t.Errorf("drift between %g and %g, want 50000 ± %g", lo, hi, span)
	}
}

func TestDiurnalCycle(t *testing.T) {
	const amp = 3.0
	sig := wideSignal(t, Model{Diurnal: Diurnal{Amplitude: amp, Peak: 15 * time.Hour}}, 4, "a/b")
	// Midnight local solar time on the 120°E meridian is 16:00 UTC.
	start := time.Date(2026, 6, 1, 16, 0, 0, 0, time.UTC)
	sig.SetStart(start)
	peak, lo, hi := time.Duration(0), math.Inf(1), math.Inf(-1)
	for m := range 24 * 60 {
		at := time.Duration(m) * time.Minute
		v := sig.Level(at)
		if v > hi {
			hi, peak = v, at
		}
		lo = math.Min(lo, v)
		if got := sig.Level(at + 24*time.Hour); math.Abs(got-v) > 1e-9 {
			t.Fatalf("at %s: %g, a day later %g: the period is not 24 h", at, v, got)
		}
	}
	if peak != 15*time.Hour {
		t.Errorf("peak at %s local, want 15h0m0s", peak)
	}
	if got := (hi - lo) / 2; math.Abs(got-amp) > 1e-3 {
		t.Errorf("amplitude %g, want %g", got, amp)
	}
	// 30° further west the sun, and the peak, come two hours later.
	sig.SetLongitude(90)
	if got, want := sig.Level(17*time.Hour), hi; math.Abs(got-want) > 1e-9 {
		t.Errorf("at 90°E the level at 17:00 (CST-meridian clock) is %g, want the peak %g", got, want)
	}
}

// TestWalkVariance: over lags shorter than tau the walk's variance grows
// like a random walk's, 2σ²(1 − e^(−lag/τ)), and it never leaves ±4σ.
func TestWalkVariance(t *testing.T) {
	const sensors, sigma = 300, 1.0
	w := Walk{Sigma: sigma, Tau: 10 * time.Hour, Step: 10 * time.Minute}
	lags := []time.Duration{time.Hour, 4 * time.Hour, 16 * time.Hour}
	diffs := make([][]float64, len(lags))
	var all []float64
	for i := range sensors {
		sig := wideSignal(t, Model{Walk: w}, 5, fmt.Sprintf("s/%d", i))
		x0 := sig.Level(0)
		for j, lag := range lags {
			diffs[j] = append(diffs[j], sig.Level(lag)-x0)
		}
		for h := range 200 {
			x := sig.Level(time.Duration(h)*time.Hour) - 50000
			if math.Abs(x) > truncZ*sigma+1e-9 {
				t.Fatalf("sensor %d at %d h: walk at %g, beyond 4σ", i, h, x)
			}
			all = append(all, x)
		}
	}
	prev := 0.0
	for j, lag := range lags {
		_, std := meanStd(diffs[j])
		got := std * std
		want := 2 * sigma * sigma * (1 - math.Exp(-lag.Hours()/w.Tau.Hours()))
		if math.Abs(got-want)/want > 0.2 {
			t.Errorf("variance after %s %g, want %g within 20 %%", lag, got, want)
		}
		if got <= prev {
			t.Errorf("variance after %s %g, not more than at the shorter lag", lag, got)
		}
		prev = got
	}
	if _, std := meanStd(all); math.Abs(std-sigma) > 0.15 {
		t.Errorf("stationary deviation %g, want %g ± 0.15", std, sigma)
	}
}

// TestLevelIsPure: the level at a time does not depend on what was asked
// before, nor on how many noise samples were drawn.
func TestLevelIsPure(t *testing.T) {
	m := Model{Noise: 1, Walk: Walk{Sigma: 5, Tau: time.Hour, Step: time.Minute}, Drift: Drift{RatePerHour: 1, Span: 2}}
	a, b := wideSignal(t, m, 6, "a/b"), wideSignal(t, m, 6, "a/b")
	late := a.Level(50 * time.Hour)
	for i := range 100 {
		b.Sample(time.Duration(i) * time.Minute)
	}
	if got := b.Level(50 * time.Hour); got != late {
		t.Errorf("level at 50 h %g after sampling, %g asked first", got, late)
	}
	if c := wideSignal(t, m, 7, "a/b"); c.Level(50*time.Hour) == late {
		t.Errorf("another seed gives the same walk")
	}
}

// TestWalkWindow: a walk keeps a bounded number of knots however long it
// runs, and gives the same level as one that keeps them all, asked in
// increasing time or, after the window has moved on, for earlier times.
func TestWalkWindow(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Model
	}{
		{"walk", Model{Walk: Walk{Sigma: 5, Tau: time.Hour, Step: time.Minute}}},
		{"walk and drift", Model{Walk: Walk{Sigma: 5, Tau: time.Hour, Step: time.Minute}, Drift: Drift{RatePerHour: 1, Span: 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig, all := wideSignal(t, tc.m, 8, "w/k"), wideSignal(t, tc.m, 8, "w/k")
			all.walk.window = math.MaxInt / 2
			steps := 10 * walkWindow
			want := make([]float64, steps)
			for i := range want {
				want[i] = all.Level(time.Duration(i) * 30 * time.Second)
			}
			for i := range want {
				if got := sig.Level(time.Duration(i) * 30 * time.Second); got != want[i] {
					t.Fatalf("step %d: level %g, want %g", i, got, want[i])
				}
				if n := len(sig.walk.knots); n > 2*walkWindow {
					t.Fatalf("step %d: %d knots held, want at most %d", i, n, 2*walkWindow)
				}
			}
			if got, w := cap(sig.walk.knots), 3*walkWindow; got > w {
				t.Errorf("knots array grew to %d, want at most %d", got, w)
			}
			for i := len(want) - 1; i >= 0; i -= 997 {
				if got := sig.Level(time.Duration(i) * 30 * time.Second); got != want[i] {
					t.Fatalf("step %d asked again: level %g, want %g", i, got, want[i])
				}
			}
			if got := sig.Level(-time.Minute); got != all.Level(-time.Minute) {
				t.Errorf("level before the start %g, want %g", got, all.Level(-time.Minute))
			}
		})
	}
}

// TestSlowPartsRespectBudget: a model too strong for a sensor's band and
// slope budget is scaled down, not allowed to reach a setpoint or trend.
func TestSlowPartsRespectBudget(t *testing.T) {
	k := mustKind(t, "tank_level")
	sps := []sensors.Setpoint{
		{Level: sensors.LevelOrange, Direction: sensors.Below, Value: 2},
		{Level: sensors.LevelOrange, Value: 17},
	}
	m := Model{Decimals: 3, Noise: 1, Diurnal: Diurnal{Amplitude: 20}, Drift: Drift{RatePerHour: 30, Span: 10}, Walk: Walk{Sigma: 5, Tau: time.Hour, Step: time.Minute}}
	sig, err := NewModelSignal(k, m, sps, 9.5, 1, "a/b")
	if err != nil {
		t.Fatal(err)
	}
	got := sig.Model()
	reach := math.Abs(got.Diurnal.Amplitude) + got.Drift.Span + truncZ*got.Walk.Sigma + truncZ*got.Noise
	low, high := sig.SafeBand()
	if margin := math.Min(9.5-low, high-9.5); reach > margin/2+1e-9 {
		t.Errorf("largest excursion %g, want at most half the margin %g", reach, margin/2)
	}
	budget := slopeBudget(k)
	for i := range 24 * 60 {
		a, b := sig.Level(time.Duration(i)*time.Minute), sig.Level(time.Duration(i+1)*time.Minute)
		if math.Abs(b-a)*60 > budget*(1+1e-9) {
			t.Fatalf("minute %d: the level moves %g/h, over the budget %g/h", i, math.Abs(b-a)*60, budget)
		}
	}
}

func TestModelValidate(t *testing.T) {
	bad := []Model{
		{Noise: -1},
		{Decimals: 12},
		{Diurnal: Diurnal{Amplitude: 1, Peak: 25 * time.Hour}},
		{Drift: Drift{RatePerHour: -1, Span: 1}},
		{Walk: Walk{Sigma: 1}},
		{Walk: Walk{Sigma: 1, Tau: time.Minute, Step: time.Hour}},
		{Noise: math.Inf(1)},
		{Noise: math.NaN()},
		{Typical: math.Inf(-1), HasTypical: true},
		{Diurnal: Diurnal{Amplitude: math.NaN()}},
		{Diurnal: Diurnal{Amplitude: math.Inf(-1)}},
		{Drift: Drift{RatePerHour: math.Inf(1), Span: 1}},
		{Drift: Drift{RatePerHour: 1, Span: math.Inf(1)}},
		{Drift: Drift{RatePerHour: math.NaN(), Span: 1}},
		{Walk: Walk{Sigma: math.Inf(1), Tau: time.Hour, Step: time.Minute}},
		{Walk: Walk{Sigma: math.NaN(), Tau: time.Hour, Step: time.Minute}},
	}
	for _, m := range bad {
		if err := m.Validate(); err == nil {
			t.Errorf("%+v: no error", m)
		}
	}
}
