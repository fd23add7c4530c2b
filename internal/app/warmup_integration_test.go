package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/warmup"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/internal/testenv"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/storage"
)

// TestWarmUpIntegration: InfluxDB holds the last two minutes of a gas
// detector rising 4 %LEL/min (with one bad-quality reading among them)
// and of a flat one, and five minutes of a frozen pressure transmitter. A
// service started on it warms its windows from that history, so the
// forecast and the stuck rule fire on the very first live readings; a
// cold engine given the same readings stays silent. On InfluxDB 1.8.10
// with flux-enabled (what the v2 API of 2.x serves the same way).
func TestWarmUpIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs a real InfluxDB")
	}
	influx := testenv.Influx(t)
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{
			{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw1"},
			{ID: "GT-102", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw1"},
			{ID: "PT-201", Site: "hz-01", Kind: "pressure", Gateway: "gw1"},
		})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	var lp strings.Builder
	point := func(sensor string, at time.Time, v float64, quality string) {
		kind := "combustible_gas"
		if sensor == "PT-201" {
			kind = "pressure"
		}
		// As ingest writes them: quality only when not good.
		fields := fmt.Sprintf("value=%g", v)
		if quality != "good" {
			fields += fmt.Sprintf(",quality=%q", quality)
		}
		fmt.Fprintf(&lp, "reading,kind=%s,sector=hazchem,sensor=%s,site=hz-01 %s %d\n", kind, sensor, fields, at.UnixMilli())
	}
	// Within the 2-min window of the forecast even as the clock moves on.
	const samples = 22
	for i := range samples {
		at := now.Add(-time.Duration(samples-i) * 5 * time.Second)
		q := "good"
		if i == 10 {
			q = "bad"
		}
		point("GT-101", at, 6+4*(2*time.Minute-now.Sub(at)).Minutes(), q) // 6 %LEL two minutes ago
		point("GT-102", at, 3, "good")
	}
	// Older than any window: must not be read.
	point("GT-101", now.Add(-time.Hour), 50, "good")
	// A pressure transmitter frozen at 12.5 MPa for the last 4m50s: its
	// stuck rule (10 readings over 5 min) looks back further than the
	// gas forecast (2 min), so the query has two ranges.
	const frozen = 10
	for i := range frozen {
		point("PT-201", now.Add(-290*time.Second+time.Duration(i)*30*time.Second), 12.5, "good")
	}
	w := storage.New(storage.Options{URL: influx.URL, Bucket: influx.Database})
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.WriteLines(ctx, lp.String()); err != nil {
		t.Fatal(err)
	}

	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	f := false
	cfg.Alerting.Notify.MQTT, cfg.Alerting.Notify.Log = &f, &f
	cfg.InfluxDB.URL, cfg.InfluxDB.Bucket = influx.URL, influx.Database
	svc, err := New(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()

	st := svc.warmUp(ctx)
	if want := 2*samples - 1 + frozen; st.Cold != 3 || st.Warmed != 3 || st.Readings != want || st.Queries != 1 {
		t.Fatalf("warm-up %+v, want 3 cold and warmed, %d readings (the bad one left out), 1 query", st, want)
	}
	if a := svc.RuleStates(); len(a) != 0 {
		t.Fatalf("warming raised %+v", a)
	}
	if again := svc.warmUp(ctx); again.Cold != 0 || again.Readings != 0 {
		t.Fatalf("second warm-up %+v: want nothing cold", again)
	}

	opts, err := EngineOptions(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	cold, err := alerting.NewEngine(reg, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, live := range []sensors.Reading{
		{Site: "hz-01", Sensor: "GT-101", Kind: "combustible_gas", Value: 14, Time: now, Received: now},
		{Site: "hz-01", Sensor: "PT-201", Kind: "pressure", Value: 12.5, Time: now.Add(15 * time.Second), Received: now},
	} {
		svc.Evaluate([]sensors.Reading{live})
		cold.Evaluate(live)
	}
	a := svc.RuleStates()
	if len(a) != 2 || a[0].Rule != "combustible_gas_forecast" || a[0].Sensor != "GT-101" || a[1].Rule != alerting.RuleSensorStuck || a[1].Sensor != "PT-201" {
		t.Fatalf("warmed service: active %+v, want the GT-101 forecast and PT-201 stuck", a)
	}
	if a := cold.Active(); len(a) != 0 {
		t.Fatalf("cold engine: active %+v, want nothing", a)
	}
}

// TestWarmUpExposureIntegration: InfluxDB holds eight hours of two CO
// detectors every 5 s: one at 21 mg/m3, one at 10 with every tenth
// reading a bad-quality 999. Warmed from minute aggregates, the first
// detector's 8-h TWA (limit 20) is over on the first live reading even
// though that reading is 5; the bad readings of the second are left out,
// so its averages stay under their limits. A cold engine raises no TWA.
func TestWarmUpExposureIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs a real InfluxDB")
	}
	influx := testenv.Influx(t)
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{
			{ID: "CO-1", Site: "hz-01", Kind: "co", Gateway: "gw1"},
			{ID: "CO-2", Site: "hz-01", Kind: "co", Gateway: "gw1"},
		})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	var lp strings.Builder
	for at := now.Add(-8 * time.Hour); at.Before(now); at = at.Add(5 * time.Second) {
		// CO-1 as releases before the one-field schema stored every
		// reading (quality and received on each), CO-2 as ingest writes
		// now: both are read alike.
		fmt.Fprintf(&lp, "reading,kind=co,sector=hazchem,sensor=CO-1,site=hz-01 quality=\"good\",received=%di,value=21 %d\n", at.UnixMilli(), at.UnixMilli())
		fields := "value=10"
		if at.Unix()%50 == 0 {
			fields = `value=999,quality="bad"`
		}
		fmt.Fprintf(&lp, "reading,kind=co,sector=hazchem,sensor=CO-2,site=hz-01 %s %d\n", fields, at.UnixMilli())
	}
	w := storage.New(storage.Options{URL: influx.URL, Bucket: influx.Database})
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.WriteLines(ctx, lp.String()); err != nil {
		t.Fatal(err)
	}

	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	f := false
	cfg.Alerting.Notify.MQTT, cfg.Alerting.Notify.Log = &f, &f
	cfg.InfluxDB.URL, cfg.InfluxDB.Bucket = influx.URL, influx.Database
	svc, err := New(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	st := svc.warmUp(ctx)
	// About 480 minutes each; the edges of the window may add or drop one.
	if st.Warmed != 2 || st.Aggregates < 2*478 || st.Aggregates > 2*482 || st.Queries != 2 {
		t.Fatalf("warm-up %+v, want both warmed from about 960 minute aggregates in 2 queries", st)
	}
	opts, err := EngineOptions(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	cold, err := alerting.NewEngine(reg, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"CO-1", "CO-2"} {
		live := sensors.Reading{Site: "hz-01", Sensor: id, Kind: "co", Value: 5, Time: now.Add(time.Second), Received: now}
		svc.Evaluate([]sensors.Reading{live})
		cold.Evaluate(live)
	}
	a := svc.RuleStates()
	if len(a) != 1 || a[0].Rule != "co_twa" || a[0].Sensor != "CO-1" || a[0].Value < 20.5 || a[0].Value > 21.5 {
		t.Fatalf("warmed service: active %+v, want only CO-1's TWA, at about 21", a)
	}
	if a := cold.Active(); len(a) != 0 {
		t.Fatalf("cold engine: active %+v, want nothing", a)
	}

	// A failing exposure query leaves the windows to be warmed all the
	// same, and says what failed.
	fresh, err := alerting.NewEngine(reg, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	st, err = warmup.Run(ctx, failingExposure{w}, fresh, reg.Catalog(), now)
	// The forecast's 2-min window holds 24 readings of CO-1 and 24 less
	// the bad ones of CO-2.
	if err == nil || !strings.Contains(err.Error(), "exposure") || st.Aggregates != 0 || st.Warmed != 2 || st.Readings < 2*24-3 {
		t.Fatalf("warm-up with the exposure query failing: %+v, %v; want the error and both windows warmed", st, err)
	}
}

// failingExposure fails the exposure warm-up's query and passes the
// others through.
type failingExposure struct{ *storage.Client }

func (failingExposure) Aggregates(context.Context, []sensors.KindID, time.Time, time.Time, time.Duration) ([]storage.Aggregate, error) {
	return nil, errors.New("query timed out")
}
