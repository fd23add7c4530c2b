package app

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting/notify"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
)

func TestNotificationChannelsAndRouting(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := func() config.Config {
		cfg := config.Default()
		cfg.StateDir = t.TempDir()
		f := false
		cfg.Alerting.Notify.MQTT = &f
		cfg.Alerting.Notify.DingTalk = []notify.DingTalkOptions{{URL: "https://oapi.dingtalk.com/robot/send?access_token=x"}}
		cfg.Alerting.Notify.WeCom = []notify.WeComOptions{{URL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x"}}
		return cfg
	}
	tests := []struct {
		name    string
		routing *notify.RouterOptions
		err     string
	}{
		{"no routing: every channel", nil, ""},
		{"routing by level and sector", &notify.RouterOptions{Routes: []notify.Route{{Notifiers: []string{"dingtalk"}, MinLevel: "orange", Sectors: []string{"hazchem"}}}, Default: []string{"log"}}, ""},
		{"routing names an unknown channel", &notify.RouterOptions{Routes: []notify.Route{{Notifiers: []string{"pager"}}}}, "pager"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			cfg.Alerting.Notify.Routing = tt.routing
			svc, err := New(cfg, reg, slog.New(slog.DiscardHandler))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("New error = %v, want one naming %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAlarmHealthEndpoint(t *testing.T) {
	svc := quietService(t, nil)
	now := time.Now()
	svc.Evaluate([]sensors.Reading{{Site: "hz-01", Sensor: "GT-101", Kind: "combustible_gas", Value: 30, Time: now, Received: now}})
	rec := httptest.NewRecorder()
	svc.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/alarm-health", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "combustible_gas_high") {
		t.Fatalf("alarm health: %d %s", rec.Code, rec.Body.String())
	}
}
