package replay

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/internal/testenv"
	"github.com/riskmon/riskmon/storage"
)

// TestReplayInfluxIntegration stores the test history in a real InfluxDB
// 1.8 (Flux over the v2 API), replays it in chunks shorter than the range
// and checks that the rules raise exactly what they raise from the same
// readings in a CSV file, and that site and sensor filters are applied.
func TestReplayInfluxIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs InfluxDB")
	}
	srv := testenv.Influx(t)
	reg := exampleRegistry(t)
	ctx := context.Background()

	hist := history()
	var lp strings.Builder
	for _, s := range hist {
		sn, ok := reg.Lookup(s.site, s.sensor)
		if !ok {
			t.Fatalf("no sensor %s/%s", s.site, s.sensor)
		}
		site, _ := reg.Site(s.site)
		for i, v := range s.values {
			fmt.Fprintf(&lp, "%s,kind=%s,sector=%s,sensor=%s,site=%s value=%g %d\n",
				storage.MeasurementReading, sn.Kind, site.Sector, s.sensor, s.site, v, at(i).UnixMilli())
		}
	}
	// A reading outside the range (stored as releases before the
	// one-field schema did, quality on every point), and one of bad
	// quality inside it.
	fmt.Fprintf(&lp, "%s,kind=ch4,sector=coal,sensor=CH4-101,site=coal-01 quality=\"good\",value=3 %d\n", storage.MeasurementReading, at(-100).UnixMilli())
	fmt.Fprintf(&lp, "%s,kind=ch4,sector=coal,sensor=CH4-102,site=coal-01 quality=\"bad\",value=3 %d\n", storage.MeasurementReading, at(5).UnixMilli())
	store := storage.New(storage.Options{URL: srv.URL, Bucket: "riskmon"})
	defer store.Close()
	if err := store.WriteLines(ctx, lp.String()); err != nil {
		t.Fatal(err)
	}

	from, to := t0, at(60)
	src := Influx{Store: store, Chunk: 3 * time.Minute, From: from, To: to}
	got, err := Run(ctx, reg, alerting.Options{}, src, Filter{From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	want, err := Run(ctx, reg, alerting.Options{}, CSV{Name: "h.csv", R: strings.NewReader(csvOf(hist))}, Filter{From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	// The bad-quality reading is stored and replayed, but not evaluated.
	if got.Readings != want.Readings+1 || got.Stats.Skipped != 1 {
		t.Errorf("InfluxDB replayed %d readings (%d skipped), want %d + 1 bad", got.Readings, got.Stats.Skipped, want.Readings)
	}
	if got.Stats.OutOfOrder != 0 {
		t.Errorf("%d readings out of order across chunks", got.Stats.OutOfOrder)
	}
	// CH4-102's one bad reading shows it alive at 50 s; it then falls
	// silent, which the CSV (without that reading) cannot show.
	stale := find(t, got, alerting.RuleSensorStale, "CH4-102")
	if d := stale.FiredAt.Sub(at(5)); d < 30*time.Second || d > 30*time.Second+tickEvery {
		t.Errorf("sensor_stale of CH4-102 fired %s after its bad reading, want 30-40 s", d)
	}
	got.Alerts = slices.DeleteFunc(got.Alerts, func(a *Alert) bool { return a == stale })
	if len(got.Alerts) == 0 || len(got.Alerts) != len(want.Alerts) {
		var b strings.Builder
		got.WriteTable(&b)
		want.WriteTable(&b)
		t.Fatalf("InfluxDB: %d alerts, CSV: %d\n%s", len(got.Alerts), len(want.Alerts), b.String())
	}
	for i := range want.Alerts {
		g, w := got.Alerts[i], want.Alerts[i]
		if g.Rule != w.Rule || g.Sensor != w.Sensor || !g.FiredAt.Equal(w.FiredAt) || !g.ResolvedAt.Equal(w.ResolvedAt) ||
			g.Level != w.Level || g.Peak != w.Peak {
			t.Errorf("alert %d: InfluxDB %+v, CSV %+v", i, *g, *w)
		}
	}

	// Filters go to the server: only the sensor's own readings return.
	src.Site, src.Sensor = "coal-01", "O2-104"
	one, err := Run(ctx, reg, alerting.Options{}, src, Filter{Site: "coal-01", Sensor: "O2-104", From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	if one.Readings != 60 || one.Filtered != 0 {
		t.Errorf("sensor filter: %d readings, %d filtered on the client; want 60 and 0", one.Readings, one.Filtered)
	}
	if a := find(t, one, "o2_mine_low", "O2-104"); a.Peak != 18.5 {
		t.Errorf("o2_mine_low peak %g, want 18.5", a.Peak)
	}
}
