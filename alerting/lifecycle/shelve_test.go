package lifecycle

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/store"
	"github.com/riskmon/riskmon/sensors"
)

func TestShelveValidation(t *testing.T) {
	ok := ShelfRequest{Mode: ModeShelved, Match: Matcher{Site: "hz-01", Sensor: "GT-101"}, Reason: "sensor swap", By: "li", Duration: time.Hour, Admin: true}
	tests := []struct {
		name string
		edit func(*ShelfRequest)
		want string // part of the error; empty: accepted
	}{
		{"valid", func(*ShelfRequest) {}, ""},
		{"out of service for a week", func(r *ShelfRequest) { r.Mode, r.Duration = ModeOutOfService, 7*24*time.Hour }, ""},
		{"unknown mode", func(r *ShelfRequest) { r.Mode = "hidden" }, `mode "hidden"`},
		{"empty matcher", func(r *ShelfRequest) { r.Match = Matcher{} }, "shelving everything is not allowed"},
		{"sensor without site", func(r *ShelfRequest) { r.Match = Matcher{Sensor: "GT-101"} }, "a sensor needs its site"},
		{"no reason", func(r *ShelfRequest) { r.Reason = "  " }, "reason: required"},
		{"nobody", func(r *ShelfRequest) { r.By = "" }, "by: the user"},
		{"no duration", func(r *ShelfRequest) { r.Duration = 0 }, "duration: required"},
		{"shelved past a shift", func(r *ShelfRequest) { r.Duration = 9 * time.Hour }, "longer than the 8h0m0s maximum"},
		{"out of service past a week", func(r *ShelfRequest) { r.Mode, r.Duration = ModeOutOfService, 8*24*time.Hour }, "longer than the 168h0m0s maximum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewShelves(alerting.SinkFunc(func(alerting.Event) {}), ShelvesOptions{})
			if err != nil {
				t.Fatal(err)
			}
			req := ok
			tt.edit(&req)
			sh, err := s.Shelve(req)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if sh.ID == "" || !sh.Expires.Equal(sh.Created.Add(req.Duration)) || len(s.Shelves()) != 1 {
					t.Fatalf("shelf %+v, active %d", sh, len(s.Shelves()))
				}
				return
			}
			if !errors.Is(err, ErrBadShelf) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrBadShelf with %q", err, tt.want)
			}
			if len(s.Shelves()) != 0 {
				t.Fatal("a refused shelf is active")
			}
		})
	}
}

func TestShelvesMarkEvents(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	now := t0
	var got []alerting.Event
	s, err := NewShelves(alerting.SinkFunc(func(e alerting.Event) { got = append(got, e) }), ShelvesOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	shelved, _ := s.Shelve(ShelfRequest{Mode: ModeShelved, Match: Matcher{Site: "hz-01", Rule: "combustible_gas_high"}, Reason: "r", By: "li", Duration: time.Hour, Admin: true})
	oos, _ := s.Shelve(ShelfRequest{Mode: ModeOutOfService, Match: Matcher{Kind: "h2s"}, Reason: "calibration", By: "li", Duration: time.Hour, Admin: true})
	tests := []struct {
		name    string
		ev      alerting.Event
		after   time.Duration
		shelved string
		planned bool
	}{
		{"covered by rule and site", alerting.Event{Site: "hz-01", Sensor: "GT-101", Rule: "combustible_gas_high", Kind: "combustible_gas"}, 0, shelved.ID, false},
		{"other site", alerting.Event{Site: "hz-02", Sensor: "GT-101", Rule: "combustible_gas_high", Kind: "combustible_gas"}, 0, "", false},
		{"other rule", alerting.Event{Site: "hz-01", Sensor: "GT-101", Rule: "combustible_gas_trend", Kind: "combustible_gas"}, 0, "", false},
		{"kind out of service is planned", alerting.Event{Site: "hz-03", Sensor: "AT-7", Rule: "h2s_high", Kind: "h2s"}, 0, oos.ID, true},
		{"expired shelf marks nothing", alerting.Event{Site: "hz-01", Sensor: "GT-101", Rule: "combustible_gas_high", Kind: "combustible_gas"}, time.Hour, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = t0.Add(tt.after)
			got = nil
			s.Emit(tt.ev)
			if len(got) != 1 {
				t.Fatalf("passed %d events, want 1", len(got))
			}
			if got[0].Shelved != tt.shelved || got[0].Planned != tt.planned {
				t.Fatalf("shelved %q planned %v, want %q %v", got[0].Shelved, got[0].Planned, tt.shelved, tt.planned)
			}
		})
	}
}

// A shelf that ends, by hand or by expiry, returns its still-active alerts
// to the operator with a reminder; a cleared one just loses the mark.
func TestShelfEndAnnouncesActiveAlerts(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	now := t0
	var reminders []alerting.Event
	life := NewLifecycle(alerting.SinkFunc(func(alerting.Event) {}), LifecycleOptions{Now: func() time.Time { return now },
		Remind: alerting.SinkFunc(func(e alerting.Event) { reminders = append(reminders, e) })})
	s, err := NewShelves(life, ShelvesOptions{Now: func() time.Time { return now }, OnEnd: life.ShelfEnded})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := s.Shelve(ShelfRequest{Mode: ModeShelved, Match: Matcher{Site: "hz-01"}, Reason: "r", By: "li", Duration: time.Hour, Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	fire := func(id, sensor string) {
		s.Emit(alerting.Event{AlertID: id, Rule: "combustible_gas_high", Site: "hz-01", Sensor: sensor, Type: alerting.EventFired, Level: sensors.LevelOrange, At: now, StartsAt: now})
	}
	fire("active", "GT-101")
	fire("cleared", "GT-102")
	s.Emit(alerting.Event{AlertID: "cleared", Rule: "combustible_gas_high", Site: "hz-01", Sensor: "GT-102", Type: alerting.EventResolved, PrevLevel: sensors.LevelOrange, At: now, StartsAt: now})
	for _, id := range []string{"active", "cleared"} {
		if r, _ := life.Get(id); r.Shelved != sh.ID {
			t.Fatalf("%s: shelved %q, want %q", id, r.Shelved, sh.ID)
		}
	}
	if n := len(s.Tick(t0.Add(30 * time.Minute))); n != 0 {
		t.Fatalf("%d shelves expired early", n)
	}
	now = t0.Add(time.Hour)
	if n := len(s.Tick(now)); n != 1 {
		t.Fatalf("expired %d shelves, want 1", n)
	}
	if len(reminders) != 1 || reminders[0].AlertID != "active" || reminders[0].Type != alerting.EventReminder {
		t.Fatalf("reminders %+v, want one for the active alert", reminders)
	}
	for _, id := range []string{"active", "cleared"} {
		if r, _ := life.Get(id); r.Shelved != "" {
			t.Fatalf("%s still marked shelved", id)
		}
	}
	if _, err := s.Unshelve(sh.ID, "li"); !errors.Is(err, ErrNoShelf) {
		t.Fatalf("unshelving an expired shelf: %v", err)
	}
}

func TestShelvesSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewShelves(alerting.SinkFunc(func(alerting.Event) {}), ShelvesOptions{Store: st.Shelves()})
	kept, _ := s.Shelve(ShelfRequest{Mode: ModeOutOfService, Match: Matcher{Site: "mine-2", Sensor: "CH4-3"}, Reason: "calibration", By: "wang", Duration: 2 * time.Hour, Admin: true})
	ended, _ := s.Shelve(ShelfRequest{Mode: ModeShelved, Match: Matcher{Rule: "dust_high"}, Reason: "r", By: "wang", Duration: time.Hour, Admin: true})
	if _, err := s.Unshelve(ended.ID, "zhao"); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err = NewShelves(alerting.SinkFunc(func(alerting.Event) {}), ShelvesOptions{Store: st.Shelves()})
	if err != nil {
		t.Fatal(err)
	}
	got := s.Shelves()
	if len(got) != 1 || got[0].ID != kept.ID || got[0].Match != kept.Match || !got[0].Expires.Equal(kept.Expires) || got[0].By != "wang" {
		t.Fatalf("after restart %+v, want only %+v", got, kept)
	}
}

// A shelf's expiry is recorded; its removal is not (the remover does).
func TestOnShelfEnd(t *testing.T) {
	var back int
	var recorded []string
	end := OnShelfEnd(func(Shelf, time.Time) { back++ }, func(_ time.Time, user, comment string) {
		recorded = append(recorded, user+": "+comment)
	})
	now := time.Now()
	end(Shelf{ID: "sh1", Mode: ModeShelved, By: "wang", Reason: "maintenance"}, now)
	end(Shelf{ID: "sh2", Mode: ModeShelved, By: "li", Ended: now}, now)
	if back != 2 || len(recorded) != 1 || !strings.Contains(recorded[0], "wang: shelved sh1 (maintenance) expired") {
		t.Fatalf("returned %d, recorded %q", back, recorded)
	}
}
