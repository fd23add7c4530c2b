package app

import (
	"errors"
	"fmt"
	"slices"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/riskmon/riskmon/alerting/dispatch"
	"github.com/riskmon/riskmon/alerting/notify"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/sensors/yamlpos"
)

// channels turns the configuration's alerting.notify section into the
// channels notify.Build makes, with dead-letter files under the state
// directory.
func channels(cfg config.Config) notify.Channels {
	n := cfg.Alerting.Notify
	ch := notify.Channels{
		Log: n.Log == nil || *n.Log, MQTT: n.MQTT == nil || *n.MQTT,
		SignedWebhooks: slices.Clone(n.SignedWebhooks), Alertmanagers: slices.Clone(n.Alertmanagers),
		DingTalk: slices.Clone(n.DingTalk), WeCom: slices.Clone(n.WeCom), Feishu: slices.Clone(n.Feishu),
		Routing: n.Routing,
	}
	for _, w := range n.Webhooks {
		ch.Webhooks = append(ch.Webhooks, notify.WebhookOptions{URL: w.URL,
			RetryOptions: notify.RetryOptions{Timeout: w.Timeout, MaxElapsed: w.MaxElapsed}})
	}
	for i := range ch.SignedWebhooks {
		ch.SignedWebhooks[i].DeadLetter = cfg.StatePath(ch.SignedWebhooks[i].DeadLetter)
	}
	for i := range ch.Alertmanagers {
		ch.Alertmanagers[i].DeadLetter = cfg.StatePath(ch.Alertmanagers[i].DeadLetter)
	}
	for i := range ch.DingTalk {
		ch.DingTalk[i].DeadLetter = cfg.StatePath(ch.DingTalk[i].DeadLetter)
	}
	for i := range ch.WeCom {
		ch.WeCom[i].DeadLetter = cfg.StatePath(ch.WeCom[i].DeadLetter)
	}
	for i := range ch.Feishu {
		ch.Feishu[i].DeadLetter = cfg.StatePath(ch.Feishu[i].DeadLetter)
	}
	return ch
}

// alertClient is the MQTT client alerts are published through: the
// ingest broker and account, its own client id, connecting (and
// reconnecting) in the background once Run starts it.
func alertClient(cfg config.Config) (mqtt.Client, error) {
	password, err := cfg.MQTTPassword()
	if err != nil {
		return nil, err
	}
	tlsConf, err := cfg.TLSConfig()
	if err != nil {
		return nil, err
	}
	o := mqtt.NewClientOptions().AddBroker(cfg.MQTT.Broker).
		SetClientID(cfg.MQTT.ClientID + "-alerts").
		SetUsername(cfg.MQTT.Username).SetPassword(password).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).
		SetCleanSession(true)
	if tlsConf != nil {
		o.SetTLSConfig(tlsConf)
	}
	return mqtt.NewClient(o), nil
}

// notifiers builds the configured notification channels; each error
// names its channel's configuration key (alerting.notify.dingtalk[1]: …).
func (s *Service) notifiers() ([]dispatch.Notifier, error) {
	ch := channels(s.cfg)
	deps := notify.BuildDeps{
		Deps: notify.Deps{Registerer: s.prom, Logger: s.log.With("component", "notify"),
			// The registry ingest validates against now: a reload's sites
			// and their guidance reach the chat messages at once.
			Registry: func() *sensors.Registry { return s.pipeline.Input().Registry() },
			// The rule files' texts in force, as the console shows them.
			Guidance: func() map[string]sensors.Guidance { return s.hub.Guidance() }},
		EventLog: s.log.With("component", "alert"),
		// The registry ingest validates against now, so a site a reload
		// added or moved is routed by its sector at once.
		Sector: func(site string) string {
			if st, ok := s.pipeline.Input().Registry().Site(site); ok {
				return string(st.Sector)
			}
			return ""
		},
	}
	if ch.MQTT {
		c, err := alertClient(s.cfg)
		if err != nil {
			return nil, fmt.Errorf("alerting.notify.mqtt: %w", err)
		}
		s.alertClient = c
		deps.Publisher = notify.NewPahoPublisher(c, 10*time.Second)
	}
	built, err := notify.Build(ch, deps)
	if err != nil {
		return nil, errors.Join(keyed(err)...)
	}
	s.alertmanagers = built.Alertmanagers
	return built.Notifiers, nil
}

// keyed splits notify.Build's error into one yamlpos.Problem per
// channel, under its full configuration key.
func keyed(err error) []error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		key := "alerting.notify"
		if ce, ok := errors.AsType[*notify.ChannelError](e); ok {
			key += "." + ce.Key
		}
		out[i] = yamlpos.Problem{Key: key, Msg: "alerting.notify." + e.Error()}
	}
	return out
}
