// Package warmup fills the rule engine's windows and exposure rings from
// the recent history in InfluxDB when the service starts, so a trend,
// forecast or exposure rule is not blind for its first window. It takes
// what it reads through the small Reader interface (*storage.Client has
// it) and feeds the engine through Engine.Cold, Warm and WarmExposure.
package warmup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/storage"
)

// Timeout bounds the start-up queries: a slow or absent InfluxDB delays
// monitoring by at most this much, then rules start cold.
const Timeout = 10 * time.Second

// warmupSamples is how many of each sensor's newest readings a warm-up
// takes at most: the engine's window holds 32.
const warmupSamples = 32

// warmupMaxLookback caps how far back a warm-up reads, whatever a rule's
// window: beyond it the query would scan too much history.
const warmupMaxLookback = 24 * time.Hour

// Stats says what a warm-up did: sensors cold and warmed, raw
// readings fed to windows, minute aggregates fed to exposure rings, and
// queries made.
type Stats struct {
	Cold, Warmed, Readings, Aggregates, Queries int
}

// Reader is what a warm-up reads from storage; *storage.Client has it.
type Reader interface {
	RecentReadings(ctx context.Context, ranges []storage.KindRange, now time.Time, n int, fn func(sensors.Reading)) error
	Aggregates(ctx context.Context, kinds []sensors.KindID, since, now time.Time, step time.Duration) ([]storage.Aggregate, error)
}

// Run queries the recent readings of the engine's cold sensors (see
// Engine.Cold) and feeds them to Engine.Warm, oldest first. It is one
// query: a range per distinct look-back (the longest window of a kind's
// rules), each filtered to its kinds, cut to each series' newest
// warmupSamples readings, bad quality left out (storage.RecentReadings).
func Run(ctx context.Context, r Reader, e *alerting.Engine, cat *sensors.Catalog, now time.Time) (Stats, error) {
	return RunFor(ctx, r, e, cat, now, nil)
}

// RunFor is Run for the cold sensors of the sites keep holds (nil: every
// site): a cluster instance warms the sites it takes over, not those
// another instance evaluates.
func RunFor(ctx context.Context, r Reader, e *alerting.Engine, cat *sensors.Catalog, now time.Time, keep func(site string) bool) (Stats, error) {
	cold := e.Cold(now)
	if keep != nil {
		cold = slices.DeleteFunc(cold, func(c alerting.ColdSensor) bool { return !keep(c.Site) })
	}
	st := Stats{Cold: len(cold)}
	if len(cold) == 0 {
		return st, nil
	}
	warmed := map[[2]string]bool{}
	// Exposure first: its aggregates reach up to now, so the raw readings
	// below then feed only the windows, not the dose a second time. It
	// scans hours of history, so it gets half the time, and the windows
	// are warmed whether it succeeds or not.
	ectx, cancel := context.WithTimeout(ctx, Timeout/2)
	n, expErr := warmExposure(ectx, r, e, cat, now, cold, warmed)
	cancel()
	if n > 0 || expErr != nil {
		st.Queries++
		st.Aggregates = n
	}
	want := map[[2]string]time.Time{}
	kindSince := map[sensors.KindID]time.Time{}
	for _, c := range cold {
		if c.Since.IsZero() {
			continue // only its exposure was cold
		}
		since := c.Since
		if now.Sub(since) > warmupMaxLookback {
			since = now.Add(-warmupMaxLookback)
		}
		want[[2]string{c.Site, c.Sensor}] = since
		if ks, ok := kindSince[c.Kind]; !ok || since.Before(ks) {
			kindSince[c.Kind] = since
		}
	}
	// Each kind in one range only, so no series is read twice.
	var ranges []storage.KindRange
	for k, since := range kindSince {
		i := slices.IndexFunc(ranges, func(r storage.KindRange) bool { return r.Since.Equal(since) })
		if i < 0 {
			ranges = append(ranges, storage.KindRange{Since: since})
			i = len(ranges) - 1
		}
		ranges[i].Kinds = append(ranges[i].Kinds, k)
	}
	for i := range ranges {
		slices.Sort(ranges[i].Kinds)
	}
	slices.SortFunc(ranges, func(a, b storage.KindRange) int { return a.Since.Compare(b.Since) })
	var winErr error
	if len(ranges) > 0 {
		st.Queries++
		st.Readings, winErr = warmWindows(ctx, r, ranges, now, e, want, warmed)
	}
	st.Warmed = len(warmed)
	return st, errors.Join(expErr, winErr)
}

// exposureStep is the aggregation of the exposure warm-up: one minute,
// the width of a 15-minute-average bucket.
const exposureStep = time.Minute

// warmExposure rebuilds the exposure rings of the sensors that have none
// from minute means and counts of their stored readings over the last 8
// hours, in one query, and returns how many aggregates it took. Covered
// time is the count times the kind's reporting interval, at most the
// minute.
func warmExposure(ctx context.Context, r Reader, e *alerting.Engine, cat *sensors.Catalog,
	now time.Time, cold []alerting.ColdSensor, warmed map[[2]string]bool) (int, error) {
	want := map[[2]string]time.Duration{} // the sensor's reporting interval
	var kinds []sensors.KindID
	since := now
	for _, c := range cold {
		k, ok := cat.Kind(c.Kind)
		if c.ExposureSince.IsZero() || !ok || k.Interval <= 0 {
			continue
		}
		want[[2]string{c.Site, c.Sensor}] = k.Interval
		if !slices.Contains(kinds, c.Kind) {
			kinds = append(kinds, c.Kind)
		}
		if c.ExposureSince.Before(since) {
			since = c.ExposureSince
		}
	}
	if len(want) == 0 {
		return 0, nil
	}
	slices.Sort(kinds)
	aggs, err := r.Aggregates(ctx, kinds, since, now, exposureStep)
	if err != nil {
		return 0, fmt.Errorf("exposure warm-up query: %w", err)
	}
	// Sorted by series and time: each ring is fed oldest first.
	n := 0
	for _, a := range aggs {
		key := [2]string{a.Site, a.Sensor}
		interval, ok := want[key]
		if !ok || !a.HasMean || a.Count <= 0 {
			continue
		}
		covered := min(time.Duration(a.Count)*interval, exposureStep)
		if e.WarmExposure(a.Site, a.Sensor, a.End, a.Mean, covered) {
			n++
			warmed[key] = true
		}
	}
	return n, nil
}

// warmWindows feeds the recent readings of ranges to the windows of the
// sensors in want, each from its own since on, and returns how many it
// took.
func warmWindows(ctx context.Context, r Reader, ranges []storage.KindRange, now time.Time, e *alerting.Engine,
	want map[[2]string]time.Time, warmed map[[2]string]bool) (int, error) {
	n := 0
	err := r.RecentReadings(ctx, ranges, now, warmupSamples, func(rd sensors.Reading) {
		key := [2]string{rd.Site, rd.Sensor}
		since, cold := want[key]
		if !cold || rd.Time.Before(since) {
			return
		}
		if e.Warm(rd) {
			n++
			warmed[key] = true
		}
	})
	if err != nil {
		return n, fmt.Errorf("warm-up query: %w", err)
	}
	return n, nil
}
