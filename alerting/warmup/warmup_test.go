package warmup

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/storage"
)

// history is a Reader over readings held in memory, recording the ranges
// it was asked for.
type history struct {
	readings []sensors.Reading
	ranges   []storage.KindRange
	aggErr   error
}

func (h *history) RecentReadings(_ context.Context, ranges []storage.KindRange, _ time.Time, n int, fn func(sensors.Reading)) error {
	h.ranges = ranges
	for i, r := range h.readings {
		if i == n {
			break
		}
		fn(r)
	}
	return nil
}

func (h *history) Aggregates(context.Context, []sensors.KindID, time.Time, time.Time, time.Duration) ([]storage.Aggregate, error) {
	return nil, h.aggErr
}

// TestRun: the cold sensors' windows take the readings inside their
// look-back and none older; a failed exposure query is reported without
// keeping the windows cold; a second run finds nothing cold.
func TestRun(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw1"}})
	if err != nil {
		t.Fatal(err)
	}
	// Carbon monoxide has an 8-hour exposure rule: its warm-up queries
	// minute aggregates too.
	coReg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "GT-101", Site: "hz-01", Kind: "co", Gateway: "gw1"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		reg          *sensors.Registry
		kind         sensors.KindID
		aggErr       error
		wantReadings int
		wantErr      bool
	}{
		{"history in reach", reg, "combustible_gas", nil, 12, false},
		{"exposure query fails, windows still warmed", coReg, "co", errors.New("query timed out"), 12, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := alerting.NewEngine(tc.reg, nil, alerting.Options{})
			if err != nil {
				t.Fatal(err)
			}
			h := &history{aggErr: tc.aggErr}
			// An hour-old reading first: older than any window, not taken.
			h.readings = append(h.readings, sensors.Reading{Site: "hz-01", Sensor: "GT-101", Kind: tc.kind,
				Value: 50, Time: now.Add(-time.Hour)})
			for i := range 12 {
				h.readings = append(h.readings, sensors.Reading{Site: "hz-01", Sensor: "GT-101", Kind: tc.kind,
					Value: 3 + float64(i)/10, Time: now.Add(-time.Duration(60-5*i) * time.Second)})
			}
			st, err := Run(context.Background(), h, e, tc.reg.Catalog(), now)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Run error %v, want an error: %v", err, tc.wantErr)
			}
			if st.Cold != 1 || st.Warmed != 1 || st.Readings != tc.wantReadings {
				t.Fatalf("stats %+v, want 1 cold and warmed, %d readings", st, tc.wantReadings)
			}
			if len(h.ranges) != 1 || len(h.ranges[0].Kinds) != 1 || h.ranges[0].Kinds[0] != tc.kind {
				t.Errorf("asked for ranges %+v, want one of %s", h.ranges, tc.kind)
			}
			if again, _ := Run(context.Background(), h, e, tc.reg.Catalog(), now); again.Cold != 0 && tc.aggErr == nil {
				t.Errorf("second run %+v: want nothing cold", again)
			}
		})
	}
}
