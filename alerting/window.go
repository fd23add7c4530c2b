package alerting

import "math"

// windowCap is how many samples a sensor's window holds. The windowed
// rules look back over a duration, but the buffer is fixed so that a
// sensor's state never grows: 32 samples cover 2 minutes of a 5-second
// gas detector (24 samples) and 5 hours of a 10-minute tailings sensor.
// A rule whose window holds more samples than this sees only the newest
// windowCap of them.
const windowCap = 32

// windowSpan is how many samples of the ring a sensor's longest window
// should take at most: readings closer together than window/windowSpan
// are not added, so a gateway reporting every half second still gives its
// forecast a full window to fit rather than the last 16 seconds of noise
// (which, fitted and extrapolated on every reading, warned of CO and
// manhole-tilt setpoints that noise alone would never reach).
const windowSpan = 24

type sample struct {
	at int64 // device time, Unix ns
	v  float64
}

// window is a ring of a sensor's newest samples, shared by its rate, trend
// and forecast rules. It holds no pointers, so the garbage collector has
// nothing to scan in it.
type window struct {
	s    [windowCap]sample
	next uint8 // where the next sample goes
	n    uint8 // how many samples are held
	// step is the least device time between two held samples.
	step int64
}

func (w *window) push(at int64, v float64) {
	if w.n > 0 && at-w.back(0).at < w.step {
		return
	}
	w.s[w.next] = sample{at, v}
	w.next = (w.next + 1) % windowCap
	if w.n < windowCap {
		w.n++
	}
}

// back returns the i-th newest sample: back(0) is the newest.
func (w *window) back(i int) sample {
	return w.s[(int(w.next)-1-i+2*windowCap)%windowCap]
}

// oldestSince is the oldest held sample at or after from.
func (w *window) oldestSince(from int64) (sample, bool) {
	var out sample
	ok := false
	for i := range int(w.n) {
		s := w.back(i)
		if s.at < from {
			break
		}
		out, ok = s, true
	}
	return out, ok
}

// fit is a least-squares line through a window's samples.
type fit struct {
	n int
	// slope is in the sensor's unit per second.
	slope float64
	// now is the line's value at the newest sample: less noisy than the
	// newest reading itself, so forecasts start from it.
	now float64
	// t is the slope divided by its standard error: how many standard
	// errors it sits from zero. A perfect line gives +Inf.
	t float64
	// span is the device time from the oldest to the newest sample used.
	span int64
}

// fitSince fits a line through the held samples at or after from. Times
// are taken relative to the newest sample and values relative to its
// value, so the sums stay small and keep their precision.
func (w *window) fitSince(from int64) fit {
	if w.n == 0 {
		return fit{}
	}
	newest := w.back(0)
	var n, sx, sy, sxx, sxy, syy float64
	var oldest int64
	for i := range int(w.n) {
		s := w.back(i)
		if s.at < from {
			break
		}
		x := float64(s.at-newest.at) / 1e9
		y := s.v - newest.v
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
		syy += y * y
		oldest = s.at
	}
	f := fit{n: int(n), now: newest.v, span: newest.at - oldest}
	vxx := sxx - sx*sx/n
	if n < 3 || vxx <= 0 {
		return f
	}
	vxy := sxy - sx*sy/n
	vyy := syy - sy*sy/n
	f.slope = vxy / vxx
	f.now = newest.v + (sy-f.slope*sx)/n // intercept at x = 0
	sse := max(vyy-f.slope*vxy, 0)
	se := math.Sqrt(sse / (n - 2) / vxx)
	switch {
	case se > 0:
		f.t = math.Abs(f.slope) / se
	case f.slope != 0:
		f.t = math.Inf(1)
	}
	return f
}
