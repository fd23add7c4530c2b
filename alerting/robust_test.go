package alerting

import "testing"

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
