package notify

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/riskmon/riskmon/alerting/dispatch"
)

// Channels lists the notification channels to build, in the shape of the
// configuration file's alerting.notify section.
type Channels struct {
	// Log writes each event to BuildDeps.EventLog.
	Log bool
	// MQTT publishes each event through BuildDeps.Publisher.
	MQTT bool
	// Webhooks are named webhook-<index> unless they have a name.
	Webhooks []WebhookOptions
	// SignedWebhooks must each have a secret.
	SignedWebhooks []WebhookOptions
	Alertmanagers  []AlertmanagerOptions
	DingTalk       []DingTalkOptions
	WeCom          []WeComOptions
	Feishu         []FeishuOptions
	// Routing, when set, decides which channels (by name) get an event;
	// without it every channel gets every event.
	Routing *RouterOptions
}

// BuildDeps is what Build needs beyond the channels' shared Deps.
type BuildDeps struct {
	Deps
	// EventLog receives the log channel's lines; nil means slog.Default().
	EventLog *slog.Logger
	// Publisher carries the MQTT channel's messages; required with
	// Channels.MQTT.
	Publisher Publisher
	// Sector gives a site's sector for routing; nil knows none.
	Sector func(site string) string
}

// Built is what Build made.
type Built struct {
	// Notifiers go to the dispatcher, one queue each.
	Notifiers []dispatch.Notifier
	// Alertmanagers are also among Notifiers; they must be Run to keep
	// firing alerts alive, and closed.
	Alertmanagers []*Alertmanager
}

// ChannelError is a channel that could not be built.
type ChannelError struct {
	// Key names the channel as Channels' yaml keys would: dingtalk[1],
	// or routing.
	Key string
	Err error
}

func (e *ChannelError) Error() string { return e.Key + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *ChannelError) Unwrap() error { return e.Err }

// Build makes every channel ch lists. It builds them all even when one
// fails, so that one bad channel does not hide the next: the error joins
// one *ChannelError per channel, each naming its key in ch (dingtalk[1]);
// routing is checked once every channel builds.
func Build(ch Channels, deps BuildDeps) (Built, error) {
	var b Built
	var errs []error
	add := func(key string, n dispatch.Notifier, err error) {
		if err != nil {
			errs = append(errs, &ChannelError{Key: key, Err: err})
			return
		}
		b.Notifiers = append(b.Notifiers, n)
	}
	if ch.Log {
		add("log", NewLogNotifier(deps.EventLog), nil)
	}
	if ch.MQTT {
		if deps.Publisher == nil {
			add("mqtt", nil, errors.New("no publisher"))
		} else {
			add("mqtt", NewMQTTNotifier(deps.Publisher, deps.Deps), nil)
		}
	}
	for i, o := range ch.SignedWebhooks {
		if o.Secret == "" {
			add(fmt.Sprintf("signed_webhooks[%d]", i), nil, errors.New("secret is required"))
			continue
		}
		c, err := NewWebhook(o, deps.Deps)
		add(fmt.Sprintf("signed_webhooks[%d]", i), c, err)
	}
	for i, o := range ch.Alertmanagers {
		c, err := NewAlertmanager(o, deps.Deps)
		if err == nil {
			b.Alertmanagers = append(b.Alertmanagers, c)
		}
		add(fmt.Sprintf("alertmanagers[%d]", i), c, err)
	}
	for i, o := range ch.DingTalk {
		c, err := NewDingTalk(o, deps.Deps)
		add(fmt.Sprintf("dingtalk[%d]", i), c, err)
	}
	for i, o := range ch.WeCom {
		c, err := NewWeCom(o, deps.Deps)
		add(fmt.Sprintf("wecom[%d]", i), c, err)
	}
	for i, o := range ch.Feishu {
		c, err := NewFeishu(o, deps.Deps)
		add(fmt.Sprintf("feishu[%d]", i), c, err)
	}
	for i, o := range ch.Webhooks {
		if o.Name == "" {
			o.Name = fmt.Sprintf("webhook-%d", i)
		}
		c, err := NewWebhook(o, deps.Deps)
		add(fmt.Sprintf("webhooks[%d]", i), c, err)
	}
	if len(errs) > 0 {
		return Built{}, errors.Join(errs...)
	}
	if ch.Routing != nil {
		r, err := NewRouter(*ch.Routing, b.Notifiers, deps.Sector)
		if err != nil {
			return Built{}, &ChannelError{Key: "routing", Err: err}
		}
		// Each channel keeps its own queue; the route filter runs in it.
		b.Notifiers = r.Notifiers()
	}
	return b, nil
}
