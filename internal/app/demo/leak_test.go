package demo

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
)

func TestDemoLeak(t *testing.T) {
	reg, err := simulator.DemoFleet(1).Registry(sensors.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                          string
		run                           time.Duration
		start, rampUp, hold, rampDown time.Duration
	}{
		{"until interrupted", 0, 30 * time.Second, 3 * time.Minute, 30 * time.Second, 2 * time.Minute},
		// Fitted into the run: rises and resolves before its end.
		{"timed", 100 * time.Second, 10 * time.Second, 30 * time.Second, 10 * time.Second, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leak, err := demoLeak(reg, tt.run)
			if err != nil {
				t.Fatal(err)
			}
			s, ok := reg.Lookup(leak.Site, leak.Sensor)
			site, _ := reg.Site(leak.Site)
			if !ok || s.Kind != "combustible_gas" || site.Sector != sensors.SectorHazchem {
				t.Errorf("leak on %s/%s, want a combustible gas detector at a hazchem site", leak.Site, leak.Sensor)
			}
			got := [4]time.Duration{leak.Start, leak.RampUp, leak.Hold, leak.RampDown}
			if want := [4]time.Duration{tt.start, tt.rampUp, tt.hold, tt.rampDown}; got != want {
				t.Errorf("start, ramp up, hold, ramp down = %v, want %v", got, want)
			}
			if tt.run > 0 && leak.Start+leak.RampUp+leak.Hold+leak.RampDown >= tt.run {
				t.Errorf("leak does not end before the run does")
			}
		})
	}
	empty, err := sensors.LoadYAML(sensors.DefaultCatalog(), "empty.yaml", strings.NewReader("sites: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := demoLeak(empty, 0); err == nil {
		t.Error("a fleet without a hazchem gas detector got a leak")
	}
}

func TestAccounts(t *testing.T) {
	as, err := newAccounts()
	if err != nil {
		t.Fatal(err)
	}
	again, err := newAccounts()
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range as {
		if a.user.Name != a.user.Role || len(a.password) < 8 || a.user.PasswordHash == a.password {
			t.Errorf("account %+v", a)
		}
		if a.password == again[i].password {
			t.Errorf("%s: the same password on two runs", a.user.Name)
		}
	}
	line := accountLine([]account{{user: as[0].user, password: "pw1"}, {user: as[1].user, password: "pw2"}})
	if want := "admin / pw1   operator / pw2"; line != want {
		t.Errorf("accountLine = %q, want %q", line, want)
	}
}

func TestQuietDropsInfo(t *testing.T) {
	var b syncBuffer
	log := quiet(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log.With("component", "broker").WithGroup("g").Info("chatter")
	log.Warn("kept", "k", 1)
	if out := b.String(); strings.Contains(out, "chatter") || !strings.Contains(out, "kept") {
		t.Errorf("quiet log wrote:\n%s", out)
	}
	if quiet(slog.Default()).Enabled(context.Background(), slog.LevelInfo) {
		t.Error("info enabled")
	}
}
