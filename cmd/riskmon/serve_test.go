package main

import (
	"context"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/riskmon/riskmon/internal/app"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
)

// TestSIGHUPReloads: a SIGHUP to the process makes the service read its
// configuration and registry again, and the rules reloaded take effect.
func TestSIGHUPReloads(t *testing.T) {
	site := []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}}
	gas := sensors.Sensor{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw1"}
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), site, []sensors.Sensor{gas})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	f := false
	cfg.Alerting.Notify.MQTT, cfg.Alerting.Notify.Log = &f, &f
	svc, err := app.New(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	// The reloaded registry gives GT-101 a first setpoint of 10 %LEL.
	gas.Setpoints = []sensors.Setpoint{{Level: sensors.LevelOrange, Direction: sensors.Above, Value: 10}}
	next, err := sensors.NewRegistry(sensors.DefaultCatalog(), site, []sensors.Sensor{gas})
	if err != nil {
		t.Fatal(err)
	}
	reloaded := make(chan struct{}, 1)
	svc.SetReloadSource(func() (config.Config, *sensors.Registry, error) {
		reloaded <- struct{}{}
		return cfg, next, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	hup := notifyHangup() // before the signal, or it ends the test binary
	go func() { defer close(done); reloadOnHangup(ctx, hup, svc) }()
	defer func() { cancel(); <-done }()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reloaded:
	case <-time.After(10 * time.Second):
		t.Fatal("no reload after SIGHUP")
	}
	now := time.Now()
	deadline := now.Add(10 * time.Second)
	for {
		// 12 %LEL trips only the reloaded setpoint.
		svc.Evaluate([]sensors.Reading{{Site: "hz-01", Sensor: "GT-101", Kind: "combustible_gas", Value: 12, Time: now, Received: now}})
		if a := svc.RuleStates(); len(a) == 1 && a[0].Rule == "combustible_gas_high" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reloaded setpoint never took effect: active %+v", svc.RuleStates())
		}
		time.Sleep(10 * time.Millisecond)
		now = now.Add(time.Second)
	}
}
