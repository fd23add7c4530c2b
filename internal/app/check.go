package app

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/sensors/yamlpos"
)

// CheckNotifiers builds the configuration's notification channels the
// way the service does, without connecting or sending anything, and
// returns every problem. Each channel is built on its own, so that one
// bad channel does not hide the next; each error is a yamlpos.Problem
// keyed by its channel (alerting.notify.dingtalk[1]) whose message starts
// with that key, and routing is checked once every channel builds.
func CheckNotifiers(cfg config.Config, reg *sensors.Registry) []error {
	n := cfg.Alerting.Notify
	off, on := false, true
	var errs []error
	try := func(key string, set func(*config.Notify)) {
		c := cfg
		c.Alerting.Notify = config.Notify{Log: &off, MQTT: &off}
		set(&c.Alerting.Notify)
		s := &Service{cfg: c, reg: reg, log: slog.New(slog.DiscardHandler), prom: prometheus.NewRegistry()}
		if _, err := s.notifiers(); err != nil {
			msg := err.Error()
			// Webhook errors already name their key, as the only entry.
			msg = strings.TrimPrefix(msg, "alerting.notify.webhooks[0]: ")
			errs = append(errs, yamlpos.Problem{Key: key, Msg: key + ": " + msg})
		}
	}
	if n.MQTT == nil || *n.MQTT {
		try("alerting.notify.mqtt", func(c *config.Notify) { c.MQTT = &on })
	}
	for i := range n.Webhooks {
		try(fmt.Sprintf("alerting.notify.webhooks[%d]", i), func(c *config.Notify) { c.Webhooks = n.Webhooks[i : i+1] })
	}
	for i := range n.SignedWebhooks {
		try(fmt.Sprintf("alerting.notify.signed_webhooks[%d]", i), func(c *config.Notify) { c.SignedWebhooks = n.SignedWebhooks[i : i+1] })
	}
	for i := range n.Alertmanagers {
		try(fmt.Sprintf("alerting.notify.alertmanagers[%d]", i), func(c *config.Notify) { c.Alertmanagers = n.Alertmanagers[i : i+1] })
	}
	for i := range n.DingTalk {
		try(fmt.Sprintf("alerting.notify.dingtalk[%d]", i), func(c *config.Notify) { c.DingTalk = n.DingTalk[i : i+1] })
	}
	for i := range n.WeCom {
		try(fmt.Sprintf("alerting.notify.wecom[%d]", i), func(c *config.Notify) { c.WeCom = n.WeCom[i : i+1] })
	}
	for i := range n.Feishu {
		try(fmt.Sprintf("alerting.notify.feishu[%d]", i), func(c *config.Notify) { c.Feishu = n.Feishu[i : i+1] })
	}
	if len(errs) == 0 {
		// All channels together: routing names them, and names must not
		// clash.
		s := &Service{cfg: cfg, reg: reg, log: slog.New(slog.DiscardHandler), prom: prometheus.NewRegistry()}
		if _, err := s.notifiers(); err != nil {
			errs = append(errs, yamlpos.Problem{Key: "alerting.notify.routing", Msg: err.Error()})
		}
	}
	return errs
}
