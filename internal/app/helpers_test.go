package app

import (
	"log/slog"
	"testing"

	"github.com/riskmon/riskmon/internal/config"
)

// quietService builds, without running it, a service for the one gas
// detector of gasRegistry on a temporary state dir, with the log and MQTT
// notifiers off; edit may change the configuration first. It is closed
// when the test ends.
func quietService(t *testing.T, edit func(*config.Config)) *Service {
	t.Helper()
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	f := false
	cfg.Alerting.Notify.MQTT, cfg.Alerting.Notify.Log = &f, &f
	if edit != nil {
		edit(&cfg)
	}
	svc, err := New(cfg, gasRegistry(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}
