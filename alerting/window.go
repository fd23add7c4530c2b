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
	// rho is the long-run lag-one autocorrelation of the noise about
	// the forecast's fits; see inflation.
	rho float32
	// noiseVar is the long-run variance of the raw samples about the
	// forecast's line through the window, and level the long-run mean of
	// the samples (both kept by the forecast as it fits).
	noiseVar float32
	level    float64
	// fits counts the fits that fed them, up to longFits; skipped
	// counts the readings quiet skipped since the last fit.
	fits    uint16
	skipped uint8
}

// quietWithin reports whether the three newest samples all lie within
// k long-run deviations of the sensor's long-run level, once those are
// settled: nothing a forecast could warn of, so the fit may be skipped.
// It still lets every eighth reading through, so the long-run figures
// keep learning, and moves the level towards the newest sample itself.
func (w *window) quietWithin(k float64) bool {
	if w.fits < warmFits || w.n < 3 {
		return false
	}
	// A signal flat to its resolution (a gas detector at zero in clean
	// air) has no noise at all: there, quiet is equal to the level.
	eps := 1e-9 * max(1, math.Abs(w.level))
	lim := max(k*k*float64(w.noiseVar), eps*eps)
	for i := range 3 {
		d := w.back(i).v - w.level
		if d*d >= lim {
			return false
		}
	}
	if w.skipped++; w.skipped >= 8 {
		w.skipped = 0
		return false
	}
	w.level += (w.back(0).v - w.level) / longFits
	return true
}

// warmFits is how many fits the long-run noise and level need before a
// forecast trusts them: from the first window of six samples on, about a
// minute of a gas detector. Until then a sensor just started, whose first
// window may be quiet by chance, gives no forecast.
const warmFits = 8

// longFits is how many fits the long-run figures average over.
const longFits = 128

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

// med3 is the median of three values.
func med3(a, b, c float64) float64 {
	if a > b {
		a, b = b, a
	}
	if b > c {
		b = c
	}
	return max(a, b)
}

// endMedian is Tukey's end-point rule for a running median of three: the
// median of the end value, its (smoothed) neighbour and the line through
// the next two (smoothed) extrapolated to the end. A lone spike at the end is rejected; a
// real step shows once a second reading confirms it.
func endMedian(x0, y0, x1, y1, x2, y2 float64) float64 {
	ext := y1
	if x1 != x2 {
		ext = y1 + (y1-y2)*(x0-x1)/(x1-x2)
	}
	return med3(y0, y1, ext)
}

// med5 is the median of five values.
func med5(a, b, c, d, e float64) float64 {
	// Order a<=b and c<=d, drop the smaller of the two lows (it has
	// three values above it), then the median is the middle of the rest.
	if a > b {
		a, b = b, a
	}
	if c > d {
		c, d = d, c
	}
	if a < c {
		// a is below b, c and d: not the median.
		a = e
		if a > b {
			a, b = b, a
		}
	} else {
		c = e
		if c > d {
			c, d = d, c
		}
	}
	// Four values left in two ordered pairs (a<=b, c<=d); the median of
	// the five is the second smallest of them.
	if a > c {
		a, b, c, d = c, d, a, b
	}
	return min(b, c)
}

// robustRate is the change per second between a median of the newest
// samples at or after from and a median of the oldest: of five at each end
// when the window holds ten or more, else of three. One or two spiky
// readings at either end cannot move it; a real rupture, a sustained
// drop, shows once the readings confirming it outnumber the others. It
// needs four samples, and samples covering at least minSpan.
func (w *window) robustRate(from, minSpan int64) (float64, bool) {
	k := 0
	for k < int(w.n) && w.back(k).at >= from {
		k++
	}
	if k < 4 || w.back(0).at-w.back(k-1).at < minSpan {
		return 0, false
	}
	var newV, oldV float64
	var newT, oldT int64
	if k >= 10 {
		b := func(i int) float64 { return w.back(i).v }
		newV, oldV = med5(b(0), b(1), b(2), b(3), b(4)), med5(b(k-1), b(k-2), b(k-3), b(k-4), b(k-5))
		newT, oldT = w.back(2).at, w.back(k-3).at
	} else {
		n0, n1, n2 := w.back(0), w.back(1), w.back(2)
		o0, o1, o2 := w.back(k-1), w.back(k-2), w.back(k-3)
		newV, oldV = med3(n0.v, n1.v, n2.v), med3(o0.v, o1.v, o2.v)
		newT, oldT = n1.at, o1.at
	}
	dt := float64(newT-oldT) / 1e9
	if dt <= 0 {
		return 0, false
	}
	return (newV - oldV) / dt, true
}

// trendFit is a forecast's model of a window: a line, or a parabola when
// the rise visibly accelerates, fitted to the samples since the last
// change in the trend. The fit runs on the samples after a running median
// of three, so a lone spike moves neither the slope nor the change point;
// the noise it is judged against is that of the raw samples, so a spiky
// signal makes the forecast more careful, never bolder. x is device time
// in seconds relative to the newest sample.
type trendFit struct {
	all int // samples in the window
	n   int // samples since the change, the ones fitted
	// now is the model's value at the newest sample and slope its rate
	// there (unit per second); se is the standard error of the slope of
	// the line through the fitted samples and t that slope over se.
	now, slope, se, t float64
	// curv is the coefficient of x² when the parabola fits significantly
	// better than the line, else 0; seCurv its standard error.
	curv, seCurv float64
	span         int64 // device time from the oldest sample of the window to the newest
	onset        int64 // device time of the oldest fitted sample
	// fullNow, fullSlope and fullT are the line through the whole
	// window, as now, slope and t are for the segment.
	fullNow, fullSlope, fullT float64
	// base is the level before the change point (when n < all), and
	// sigma the sensor's long-run noise about its trend lines; depart
	// is how far the model's present value is from the sensor's long-run
	// level (which follows the value over about a hundred readings).
	base, sigma, depart float64
	// lineSlope is the slope of the line through the fitted samples,
	// which t judges; slope differs from it when the parabola is chosen.
	lineSlope float64
	// recent is how far the median of the three newest raw samples is
	// from the long-run level: what the sensor reads now, a lone spike
	// rejected, with no model in between.
	recent float64
	warm   bool // the long-run figures are settled
	fits   int  // the fits the long-run figures rest on, up to longFits
}

// Critical F ratios a richer model must reach over the simpler one to be
// chosen. A change point is searched for, so its F is the largest of many
// and needs a high bar (about the 1 % point of the sup-F of a broken line
// on noise); a curvature is one test on a trend already significant.
const (
	fCritChange = 12
	fCritCurve  = 10
)

// sums are the running sums of a least-squares line.
type sums struct{ c, x, y, xx, xy, yy float64 }

func (s *sums) add(x, y float64) {
	s.c++
	s.x += x
	s.y += y
	s.xx += x * x
	s.xy += x * y
	s.yy += y * y
}

// line is the least-squares line of the sums: slope, intercept at x = 0,
// residual sum of squares and the centred sum of squares of x.
func (s *sums) line() (b, a, sse, vxx float64) {
	vxx = s.xx - s.x*s.x/s.c
	if s.c < 2 || vxx <= 0 {
		return 0, s.y / s.c, math.Inf(1), 0
	}
	vxy := s.xy - s.x*s.y/s.c
	vyy := s.yy - s.y*s.y/s.c
	b = vxy / vxx
	return b, (s.y - b*s.x) / s.c, max(vyy-b*vxy, 0), vxx
}

// noise is the residual sum of squares of the newest m of n raw samples
// about the line a + b·x, and the lag-one autocorrelation ρ of the
// residuals of all n (the older ones about the level flat), corrected for
// its small-sample bias.
func noise(xs, ys *[windowCap]float64, n, m int, a, b, flat float64) (sse, rho float64) {
	var all, lag, prev float64
	for i := range n {
		var e float64
		if i < m {
			e = ys[i] - a - b*xs[i]
			sse += e * e
		} else {
			e = ys[i] - flat
		}
		all += e * e
		if i > 0 {
			lag += e * prev
		}
		prev = e
	}
	if all <= 0 {
		return sse, 0
	}
	rho = lag / all
	return sse, min(max(rho+(1+3*rho)/float64(n), 0), 0.9)
}

// clippedSSE is the squared residuals of the n samples about the line
// a + b·x, each residual held to clipNoise long-run deviations once the
// long-run figures rest on warmFits fits. The long-run noise deviation is
// the unit of the forecast's departure bar, and lone spikes would
// otherwise inflate it: the same bar would then sit further out on a
// spiky signal than on a clean one, and the false-alert rate would hang
// on how often a sensor spikes, rising as its spikes grow rarer.
func clippedSSE(xs, ys *[windowCap]float64, n int, a, b float64, fits uint16, noiseVar float32) float64 {
	lim := math.Inf(1)
	if fits > warmFits && noiseVar > 0 {
		lim = clipNoise * math.Sqrt(float64(noiseVar))
	}
	var sse float64
	for i := range n {
		e := min(math.Abs(ys[i]-a-b*xs[i]), lim)
		sse += e * e
	}
	return sse
}

// clipNoise is where clippedSSE holds a residual, in long-run deviations:
// past where AR(1) noise goes between spikes, short of the 6 to 12 of a
// spike.
const clipNoise = 3.5

// inflation is the factor (1+ρ)/(1-ρ) by which noise with lag-one
// autocorrelation ρ inflates the variance of a fitted slope: correlated
// noise wanders in stretches that look like trends, and without it their
// slopes would pass for significant far too often. ρ is the larger of
// this window's and the sensor's long-run figure, as one window's
// estimate is too uncertain to trust when it happens to come out low.
func (w *window) inflation(rho float64) float64 {
	rho = max(rho, float64(w.rho))
	return (1 + rho) / (1 - rho)
}

// flat is the residual sum of squares of c samples with sum y and sum of
// squares yy about their mean.
func flat(c, y, yy float64) float64 {
	if c <= 0 {
		return 0
	}
	return max(yy-y*y/c, 0)
}

// rampSince fits the samples at or after from, never fewer than minSeg
// in the fitted segment. The change point is where a flat stretch
// followed by a line fits the smoothed samples best; it is used only when
// it fits the raw samples markedly better (fCritChange) than one line
// through the whole window, as after the onset of a leak. It does not
// allocate.
//
// It is the forecast's per-reading hot loop and is kept as one function
// on purpose: split into its steps (loading, smoothing, change-point
// search, noise update, split test, parabola) it measured about 4 %
// slower on BenchmarkEvaluateGasForecast, the calls not being inlined.
func (w *window) rampSince(from int64, minSeg int) trendFit {
	var xs, ys, sm [windowCap]float64
	if w.n == 0 {
		return trendFit{}
	}
	newest := w.back(0)
	n := 0
	var oldest int64
	for i := range int(w.n) {
		s := w.back(i)
		if s.at < from {
			break
		}
		xs[n] = float64(s.at-newest.at) / 1e9
		ys[n] = s.v - newest.v
		oldest = s.at
		n++
	}
	r := trendFit{all: n, n: n, now: newest.v, span: newest.at - oldest, onset: oldest}
	if n < 3 || n < minSeg {
		return r
	}
	for i := 1; i < n-1; i++ {
		sm[i] = med3(ys[i-1], ys[i], ys[i+1])
	}
	sm[0], sm[n-1] = ys[0], ys[n-1]
	if n > 3 {
		// The ends extrapolate the smoothed neighbours, so a spike next
		// to an end does not carry over to it.
		sm[0] = endMedian(xs[0], ys[0], xs[1], sm[1], xs[2], sm[2])
		sm[n-1] = endMedian(xs[n-1], ys[n-1], xs[n-2], sm[n-2], xs[n-3], sm[n-3])
	}

	var tsy, tsyy, try, tryy float64 // totals, smoothed and raw
	for i := range n {
		tsy += sm[i]
		tsyy += sm[i] * sm[i]
		try += ys[i]
		tryy += ys[i] * ys[i]
	}
	// The newest m samples, grown one at a time: smoothed and raw.
	var ss, rs, best sums
	bestSSE := math.Inf(1)
	minM := max(minSeg, 3)
	for m := 1; m < n; m++ {
		i := m - 1
		ss.add(xs[i], sm[i])
		rs.add(xs[i], ys[i])
		rest := float64(n - m)
		if m < minM || rest < 3 {
			continue
		}
		_, _, sse, _ := ss.line()
		if total := sse + flat(rest, tsy-ss.y, tsyy-ss.yy); total < bestSSE {
			bestSSE, best = total, rs
		}
	}
	ss.add(xs[n-1], sm[n-1])
	rs.add(xs[n-1], ys[n-1])
	full := rs // raw sums of the whole window
	seg, segS := full, ss
	// infl is the variance inflation of the window's noise for its
	// autocorrelation, from the residuals of the model chosen.
	infl, fullInfl := 1.0, 1.0
	fb, fa, _, fvxx := ss.line()
	var fullSSE float64
	if fvxx > 0 {
		r.fullSlope, r.fullNow = fb, newest.v+fa
		var rho float64
		fullSSE, rho = noise(&xs, &ys, n, n, fa, fb, 0)
		// The long-run figures follow the line's residuals over about
		// a hundred fits (their plain mean over the first ones, so a
		// sensor's first fits count in full); a ramp raises them, which
		// only makes the next forecasts more careful.
		if w.fits < longFits {
			w.fits++
		}
		wt := 1 / float64(w.fits)
		if w.fits == 1 {
			w.level = newest.v + try/float64(n)
		}
		w.rho += float32((rho - float64(w.rho)) * wt)
		w.noiseVar += float32((clippedSSE(&xs, &ys, n, fa, fb, w.fits, w.noiseVar)/float64(n-2) - float64(w.noiseVar)) * wt)
		w.level += (newest.v + sm[0] - w.level) * wt
		infl = w.inflation(rho)
		fullInfl = infl
	}
	if best.c > 0 && n > 4 {
		// The same split judged on the raw samples, with two more
		// parameters (the flat level and the change point), against
		// noise as correlated as the split's residuals show.
		_, _, fullSSE, _ := full.line()
		bb, ba, segSSE, _ := best.line()
		rest := float64(n) - best.c
		splitSSE := segSSE + flat(rest, try-best.y, tryy-best.yy)
		_, rho := noise(&xs, &ys, n, int(best.c), ba, bb, (try-best.y)/rest)
		f := w.inflation(rho)
		if splitSSE > 0 && (fullSSE-splitSSE)/2/(splitSSE/float64(n-4))/f >= fCritChange {
			seg, infl = best, f
			r.base = newest.v + (try-best.y)/rest
			segS = sums{}
			for i := range int(best.c) {
				segS.add(xs[i], sm[i])
			}
		}
	}
	if fvxx > 0 {
		if se := math.Sqrt(fullSSE * fullInfl / (full.c - 2) / fvxx); se > 0 {
			r.fullT = math.Abs(fb) / se
		} else if fb != 0 {
			r.fullT = math.Inf(1)
		}
	}
	r.sigma = math.Sqrt(float64(w.noiseVar))
	r.warm = w.fits >= warmFits
	r.fits = int(w.fits)
	r.recent = math.Abs(newest.v + med3(ys[0], ys[1], ys[2]) - w.level)
	m := int(seg.c)
	r.n = m
	r.onset = newest.at + int64(xs[m-1]*1e9)
	split := m < n
	restMean := 0.0
	if split {
		restMean = r.base - newest.v
	}

	// The line through the smoothed segment, judged by the raw noise
	// about the model (the flat level before a change point included).
	b, a, _, vxx := segS.line()
	if vxx <= 0 {
		return r
	}
	r.slope, r.now, r.lineSlope = b, newest.v+a, b
	rawSSE, rho := noise(&xs, &ys, n, m, a, b, restMean)
	if seg.c > 2 {
		r.se = math.Sqrt(rawSSE * w.inflation(rho) / (seg.c - 2) / vxx)
	}
	r.t = tRatio(b, r.se)
	r.depart = math.Abs(r.now - w.level)
	if m < 6 {
		return r
	}
	// The parabola, in u = x/L in [-1, 0] so the sums stay well scaled.
	L := -xs[m-1]
	if L <= 0 {
		return r
	}
	var s1, s2, s3, s4, t0, t1, t2 float64
	for i := range m {
		u, y := xs[i]/L, sm[i]
		u2 := u * u
		s1 += u
		s2 += u2
		s3 += u2 * u
		s4 += u2 * u2
		t0 += y
		t1 += u * y
		t2 += u2 * y
	}
	s0 := float64(m)
	c00 := s2*s4 - s3*s3
	c01 := s2*s3 - s1*s4
	c02 := s1*s3 - s2*s2
	c11 := s0*s4 - s2*s2
	c12 := s1*s2 - s0*s3
	c22 := s0*s2 - s1*s1
	det := s0*c00 + s1*c01 + s2*c02
	if det <= 0 {
		return r
	}
	qa := (c00*t0 + c01*t1 + c02*t2) / det
	qb := (c01*t0 + c11*t1 + c12*t2) / det
	qc := (c02*t0 + c12*t1 + c22*t2) / det
	// Raw residuals about the parabola, and their autocorrelation with
	// the flat part before a change point.
	var qsse, all, lag, prev float64
	for i := range n {
		var d float64
		if i < m {
			u := xs[i] / L
			d = ys[i] - (qa + qb*u + qc*u*u)
			qsse += d * d
		} else {
			d = ys[i] - restMean
		}
		all += d * d
		if i > 0 {
			lag += d * prev
		}
		prev = d
	}
	// A line that fits to rounding error has no curvature to find.
	if rawSSE <= 1e-12*(math.Abs(a)+math.Abs(b*L)+1e-300) || qsse >= rawSSE || all <= 0 {
		return r
	}
	qrho := lag / all
	qrho = min(max(qrho+(1+3*qrho)/float64(n), 0), 0.9)
	qinfl := w.inflation(qrho)
	if qsse > 0 && (rawSSE-qsse)/(qsse/(s0-3)) < fCritCurve {
		return r
	}
	s2q := qsse / (s0 - 3) * qinfl
	r.now = newest.v + qa
	r.slope = qb / L
	r.se = math.Sqrt(s2q*c11/det) / L
	// Whether there is a rise at all is the line's slope, now judged by
	// the noise about the parabola: the line's own residuals are the
	// bend, not noise.
	r.t = tRatio(b, math.Sqrt(s2q/vxx))
	r.curv = qc / (L * L)
	r.seCurv = math.Sqrt(s2q*c22/det) / (L * L)
	r.depart = math.Abs(r.now - w.level)
	return r
}

// tRatio is how many standard errors se a slope b is from zero.
func tRatio(b, se float64) float64 {
	switch {
	case se > 0:
		return math.Abs(b) / se
	case b != 0:
		return math.Inf(1)
	}
	return 0
}
