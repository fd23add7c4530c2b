package alerting

import (
	"math"
	"testing"
)

// TestMedians: med3 and med5 return the median of every ordering.
func TestMedians(t *testing.T) {
	vals := []float64{1, 2, 3, 4, 5}
	var perm func(k int)
	perm = func(k int) {
		if k == len(vals) {
			if m := med5(vals[0], vals[1], vals[2], vals[3], vals[4]); m != 3 {
				t.Fatalf("med5%v = %g, want 3", vals, m)
			}
			if m := med3(vals[0], vals[1], vals[2]); m != max(min(vals[0], vals[1]), min(max(vals[0], vals[1]), vals[2])) {
				t.Fatalf("med3%v = %g", vals[:3], m)
			}
			return
		}
		for i := k; i < len(vals); i++ {
			vals[k], vals[i] = vals[i], vals[k]
			perm(k + 1)
			vals[k], vals[i] = vals[i], vals[k]
		}
	}
	perm(0)
}

// TestSnapshotKeepsNoise: what the forecast learnt of a sensor's noise
// survives a restart; a damaged figure is dropped and learnt again.
func TestSnapshotKeepsNoise(t *testing.T) {
	reg := earlyRegistry(t)
	e, err := NewEngine(reg, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		e.Evaluate(reading("hz-01", "GT-101", 5*i, 3+0.3*float64(i%4)))
	}
	snap := e.Snapshot()
	var orig window
	for _, s := range e.rules().subjects {
		if s.sensor == "GT-101" {
			orig = *s.win
		}
	}
	if orig.fits == 0 || orig.noiseVar <= 0 {
		t.Fatalf("no noise learnt: %+v", orig)
	}
	restored := func(snap *Snapshot) window {
		e2, err := NewEngine(reg, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		e2.Restore(snap)
		for _, s := range e2.rules().subjects {
			if s.sensor == "GT-101" {
				return *s.win
			}
		}
		t.Fatal("no GT-101")
		return window{}
	}
	got := restored(snap)
	if got.rho != orig.rho || got.noiseVar != orig.noiseVar || got.level != orig.level || got.fits != orig.fits {
		t.Errorf("restored noise %v %v %v %v, want %v %v %v %v", got.rho, got.noiseVar, got.level, got.fits, orig.rho, orig.noiseVar, orig.level, orig.fits)
	}
	for i := range snap.Subjects {
		if snap.Subjects[i].Sensor == "GT-101" {
			snap.Subjects[i].WindowNoise[2] = math.Inf(1)
		}
	}
	if got := restored(snap); got.fits != 0 || got.level != 0 {
		t.Errorf("a damaged level was taken: %+v", got)
	}
}
