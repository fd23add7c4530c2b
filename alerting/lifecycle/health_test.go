package lifecycle

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// healthClock is a settable clock for Health.
type healthClock struct{ t time.Time }

func (c *healthClock) now() time.Time { return c.t }

func newTestHealth(t *testing.T) (*Health, *healthClock, *prometheus.Registry, *int) {
	t.Helper()
	clk := &healthClock{t: t0}
	reg := prometheus.NewRegistry()
	passed := 0
	h, err := NewHealth(alerting.SinkFunc(func(alerting.Event) { passed++ }), HealthOptions{Now: clk.now, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return h, clk, reg, &passed
}

func fire(h *Health, id, rule, sensor string) {
	h.Emit(alerting.Event{AlertID: id, Rule: rule, Site: "s-1", Sensor: sensor, Type: alerting.EventFired, Level: sensors.LevelYellow})
}

func TestHealthRateAndFlood(t *testing.T) {
	tests := []struct {
		name      string
		alarms    int           // fired one per step
		step      time.Duration // between alarms
		after     time.Duration // quiet time after the last alarm
		last10    int
		flood     bool
		floods    uint64
		floodSecs float64
	}{
		{"ten in ten minutes is no flood", 10, 30 * time.Second, 0, 10, false, 0, 0},
		{"eleven in ten minutes is a flood", 11, 30 * time.Second, 0, 11, true, 1, 0},
		// The 11th alarm at 5 min starts it; the snapshot at 13 min sees
		// 3 in minutes 4-13 and ends it: 8 min of flood.
		{"a flood ends under five", 11, 30 * time.Second, 8 * time.Minute, 3, false, 1, 480},
		{"spread out is no flood", 30, 2 * time.Minute, 0, 5, false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, clk, reg, passed := newTestHealth(t)
			for i := range tt.alarms {
				if i > 0 {
					clk.t = clk.t.Add(tt.step)
				}
				fire(h, fmt.Sprint(i), "ch4_high", fmt.Sprintf("ch4-%d", i))
			}
			clk.t = clk.t.Add(tt.after)
			s := h.Snapshot()
			if s.Last10Min != tt.last10 || s.Flood != tt.flood || s.Floods != tt.floods || s.FloodSeconds != tt.floodSecs {
				t.Errorf("last10 %d flood %v floods %d flood seconds %g, want %d %v %d %g",
					s.Last10Min, s.Flood, s.Floods, s.FloodSeconds, tt.last10, tt.flood, tt.floods, tt.floodSecs)
			}
			if *passed != tt.alarms {
				t.Errorf("%d events passed on, want %d", *passed, tt.alarms)
			}
			if got := metricValue(t, reg, "riskmon_alarm_rate_10m", nil); got != float64(tt.last10) {
				t.Errorf("rate metric %g, want %d", got, tt.last10)
			}
		})
	}
}

func TestHealthAverage(t *testing.T) {
	h, clk, _, _ := newTestHealth(t)
	for i := range 12 { // 12 alarms over 2 h: 1 per 10 min
		fire(h, fmt.Sprint(i), "co_high", "co-0")
		clk.t = clk.t.Add(10 * time.Minute)
	}
	if s := h.Snapshot(); s.Avg10Min != 1 {
		t.Errorf("average %g per 10 min, want 1", s.Avg10Min)
	}
}

func TestHealthStanding(t *testing.T) {
	h, clk, reg, _ := newTestHealth(t)
	fire(h, "a", "co_high", "co-0")
	fire(h, "b", "co_high", "co-1")
	clk.t = clk.t.Add(time.Hour)
	fire(h, "c", "so2_high", "so2-0")
	h.Emit(alerting.Event{AlertID: "b", Rule: "co_high", Site: "s-1", Sensor: "co-1", Type: alerting.EventResolved})
	clk.t = clk.t.Add(23*time.Hour + time.Second)
	s := h.Snapshot()
	if len(s.Standing) != 1 || s.Standing[0].ID != "a" || !s.Standing[0].Since.Equal(t0) {
		t.Errorf("standing %+v, want only a", s.Standing)
	}
	if got := metricValue(t, reg, "riskmon_alarm_standing", nil); got != 1 {
		t.Errorf("standing metric %g", got)
	}
	clk.t = clk.t.Add(time.Hour)
	if s := h.Snapshot(); len(s.Standing) != 2 {
		t.Errorf("standing %+v, want a and c", s.Standing)
	}
}

func TestHealthChattering(t *testing.T) {
	tests := []struct {
		name     string
		gaps     []time.Duration // between fires of one alert
		episodes uint64
		now      int // chattering subjects at the end
	}{
		{"three in a minute chatter", []time.Duration{20 * time.Second, 20 * time.Second}, 1, 1},
		{"three in over a minute do not", []time.Duration{40 * time.Second, 40 * time.Second}, 0, 0},
		{"a long burst is one episode", []time.Duration{5 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}, 1, 1},
		{"two bursts are two episodes", []time.Duration{time.Second, time.Second, 5 * time.Minute, time.Second, time.Second}, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, clk, reg, _ := newTestHealth(t)
			fire(h, "0", "ch4_high", "ch4-0")
			for i, g := range tt.gaps {
				clk.t = clk.t.Add(g)
				h.Emit(alerting.Event{AlertID: fmt.Sprint(i), Rule: "ch4_high", Site: "s-1", Sensor: "ch4-0", Type: alerting.EventResolved})
				fire(h, fmt.Sprint(i+1), "ch4_high", "ch4-0")
			}
			s := h.Snapshot()
			if s.ChatterEpisodes != tt.episodes || len(s.Chattering) != tt.now {
				t.Errorf("episodes %d, chattering %+v; want %d and %d subjects", s.ChatterEpisodes, s.Chattering, tt.episodes, tt.now)
			}
			if tt.episodes > 0 {
				if got := metricValue(t, reg, "riskmon_alarm_chattering_total", map[string]string{"rule": "ch4_high"}); got != float64(tt.episodes) {
					t.Errorf("chattering metric %g", got)
				}
			}
			clk.t = clk.t.Add(2 * time.Minute)
			if s := h.Snapshot(); len(s.Chattering) != 0 {
				t.Errorf("still chattering two minutes later: %+v", s.Chattering)
			}
		})
	}
}

func TestHealthBadActors(t *testing.T) {
	h, clk, _, _ := newTestHealth(t)
	id := 0
	// Rule r<i> on sensor x<i> fires i+1 times, for i < 12.
	for i := range 12 {
		for range i + 1 {
			fire(h, fmt.Sprint(id), fmt.Sprintf("r%02d", i), fmt.Sprintf("x%02d", i))
			id++
		}
	}
	s := h.Snapshot()
	if len(s.TopRules) != 10 || s.TopRules[0] != (BadActor{Rule: "r11", Count: 12}) || s.TopRules[9] != (BadActor{Rule: "r02", Count: 3}) {
		t.Errorf("top rules %+v", s.TopRules)
	}
	if len(s.TopSensors) != 10 || s.TopSensors[0] != (BadActor{Site: "s-1", Sensor: "x11", Count: 12}) {
		t.Errorf("top sensors %+v", s.TopSensors)
	}
	clk.t = clk.t.Add(25 * time.Hour)
	if s := h.Snapshot(); len(s.TopRules) != 0 || len(s.TopSensors) != 0 || s.Avg10Min != 0 {
		t.Errorf("a day later: %+v", s)
	}
}

func TestHealthEscalationKeepsAlarm(t *testing.T) {
	h, clk, _, _ := newTestHealth(t)
	fire(h, "a", "ch4_high", "ch4-0")
	h.Emit(alerting.Event{AlertID: "a", Rule: "ch4_high", Site: "s-1", Sensor: "ch4-0", Type: alerting.EventEscalated, Level: sensors.LevelRed})
	h.Emit(alerting.Event{AlertID: "a", Rule: "ch4_high", Site: "s-1", Sensor: "ch4-0", Type: alerting.EventAcknowledged, Level: sensors.LevelRed})
	clk.t = clk.t.Add(25 * time.Hour)
	s := h.Snapshot()
	if len(s.Standing) != 1 || s.Standing[0].Level != sensors.LevelRed {
		t.Errorf("standing %+v, want the escalated alarm at red", s.Standing)
	}
	if s.Last10Min != 0 {
		t.Errorf("last 10 min %d", s.Last10Min)
	}
}

// Shelved and planned alarms are open but not annunciated: counted as
// such, and kept out of the operator's alarm rate and the bad actors.
func TestHealthMarks(t *testing.T) {
	h, _, _, _ := newTestHealth(t)
	emit := func(id string, mark func(*alerting.Event)) {
		ev := alerting.Event{AlertID: id, Rule: "r", Site: "s-1", Sensor: id, Type: alerting.EventFired, Level: sensors.LevelOrange}
		if mark != nil {
			mark(&ev)
		}
		h.Emit(ev)
	}
	emit("plain", nil)
	emit("shelved", func(e *alerting.Event) { e.Shelved = "sh1" })
	emit("planned", func(e *alerting.Event) { e.Planned, e.Shelved = true, "oos1" })
	emit("flapping", func(e *alerting.Event) { e.Flapping = true })
	s := h.Snapshot()
	if s.Active != 2 || s.Shelved != 1 || s.OutOfService != 1 || s.Flapping != 1 {
		t.Fatalf("active %d shelved %d out of service %d flapping %d; want 2 1 1 1", s.Active, s.Shelved, s.OutOfService, s.Flapping)
	}
	if s.Last10Min != 2 {
		t.Fatalf("alarm rate counts %d, want 2 (shelved and planned are not annunciated)", s.Last10Min)
	}
	if len(s.TopSensors) != 2 {
		t.Fatalf("bad actors %+v, want only the annunciated two", s.TopSensors)
	}
	// A shelf ending shows in the next event's marks.
	h.Emit(alerting.Event{AlertID: "shelved", Rule: "r", Site: "s-1", Sensor: "shelved", Type: alerting.EventEscalated, Level: sensors.LevelRed})
	if s := h.Snapshot(); s.Active != 3 || s.Shelved != 0 {
		t.Fatalf("after unshelved escalation: active %d shelved %d, want 3 0", s.Active, s.Shelved)
	}
}

func TestHealthPerOperator(t *testing.T) {
	for _, tt := range []struct {
		operators int
		want      float64
	}{{0, 6}, {1, 6}, {3, 2}, {4, 1.5}} {
		h, err := NewHealth(nil, HealthOptions{Now: func() time.Time { return t0 }, Operators: tt.operators})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			fire(h, fmt.Sprint("a", i), "r", fmt.Sprint("s", i))
		}
		if s := h.Snapshot(); s.PerOperator10Min != tt.want || s.Last10Min != 6 {
			t.Errorf("%d operators: %v per operator of %d, want %v", tt.operators, s.PerOperator10Min, s.Last10Min, tt.want)
		}
	}
}

// TestHealthRate10Min: fired alarms are counted per 10 minutes of
// arrival; other events are not alarms, and buckets older than a day fall
// off.
func TestHealthRate10Min(t *testing.T) {
	h, clk, _, _ := newTestHealth(t)
	n := 0
	fireN := func(k int) {
		for range k {
			n++
			id := fmt.Sprint("a", n)
			h.Emit(alerting.Event{AlertID: id, Rule: "r", Site: "s-1", Sensor: id, Type: alerting.EventFired, Level: sensors.LevelOrange})
			h.Emit(alerting.Event{AlertID: id, Rule: "r", Site: "s-1", Sensor: id, Type: alerting.EventResolved, PrevLevel: sensors.LevelOrange})
		}
	}
	fireN(3)
	clk.t = clk.t.Add(10 * time.Minute)
	fireN(12) // a flood
	clk.t = clk.t.Add(20 * time.Minute)
	fireN(1)
	rate := h.Snapshot().Rate10Min
	if len(rate) != 144 {
		t.Fatalf("%d buckets, want a day of 144", len(rate))
	}
	got := []int{rate[len(rate)-4].Count, rate[len(rate)-3].Count, rate[len(rate)-2].Count, rate[len(rate)-1].Count}
	if want := []int{3, 12, 0, 1}; !slices.Equal(got, want) {
		t.Fatalf("last four buckets %v, want %v", got, want)
	}
	if !rate[len(rate)-1].Start.Equal(t0.Add(30 * time.Minute).Truncate(10 * time.Minute)) {
		t.Errorf("newest bucket starts %s", rate[len(rate)-1].Start)
	}
	clk.t = clk.t.Add(24 * time.Hour)
	for _, b := range h.Snapshot().Rate10Min {
		if b.Count != 0 {
			t.Fatalf("a day later bucket %s still counts %d", b.Start, b.Count)
		}
	}
}
