package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/riskmon/riskmon/alerting"
)

// Publisher is the one MQTT call the MQTTNotifier needs, so it can run on
// any client (PahoPublisher adapts paho) and on a fake in tests.
type Publisher interface {
	Publish(topic string, qos byte, retained bool, payload []byte) error
}

// MQTTNotifier publishes each event (EventBody) to
// riskmon/v1/alerts/{site}/{level}, QoS 1, not retained: the topic carries
// a stream of changes, and a retained message would replay one old change
// to every new subscriber as if it were the current state.
//
// A de-escalation and an alert's end are published on every level topic
// the alert has been at (Event.Reached), so a siren subscribed to 1-red
// alone hears that a red alarm went down to orange and that it ended.
type MQTTNotifier struct {
	pub  Publisher
	deps Deps
}

// NewMQTTNotifier publishes through pub; deps' registry and guidance
// (may be zero) give the event's text its sensor's setpoints and its
// site's and rule's procedure.
func NewMQTTNotifier(pub Publisher, deps Deps) *MQTTNotifier {
	return &MQTTNotifier{pub: pub, deps: deps}
}

// Name returns "mqtt".
func (n *MQTTNotifier) Name() string { return "mqtt" }

// Notify publishes ev. The Publisher takes no context, so ctx is only
// checked before publishing; PahoPublisher bounds the wait itself.
func (n *MQTTNotifier) Notify(ctx context.Context, ev alerting.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	payload, err := EventBody(ev, n.deps.texts(ev))
	if err != nil {
		return fmt.Errorf("mqtt notify: encode event: %w", err)
	}
	for _, topic := range AlertTopics(ev) {
		if err := n.pub.Publish(topic, 1, false, payload); err != nil {
			return fmt.Errorf("mqtt notify %s: %w", topic, err)
		}
	}
	return nil
}

// AlertTopics are the topics an event is published on: AlertTopic, and
// for a de-escalation or an end also the topics of every other level the
// alert has been at, most severe first.
func AlertTopics(ev alerting.Event) []string {
	own := ev.TopicLevel()
	if ev.Type != alerting.EventDeescalated && ev.Type != alerting.EventResolved {
		return []string{AlertTopic(ev)}
	}
	var out []string
	for _, l := range ev.Reached.With(own).Levels() {
		out = append(out, "riskmon/v1/alerts/"+topicSegment(ev.Site)+"/"+l.String())
	}
	if len(out) == 0 {
		return []string{AlertTopic(ev)}
	}
	return out
}

// AlertTopic is the topic an event is published on:
// riskmon/v1/alerts/{site}/{level}, level as in "2-orange" (see
// Event.TopicLevel for resolved events).
func AlertTopic(ev alerting.Event) string {
	return "riskmon/v1/alerts/" + topicSegment(ev.Site) + "/" + ev.TopicLevel().String()
}

// topicSegment keeps a site id to one topic level: a '/' would add a level
// and '+' or '#' are wildcards a broker rejects in a publish topic.
var topicSegment = strings.NewReplacer("/", "_", "+", "_", "#", "_", "\x00", "_").Replace

// ErrPublishTimeout is returned when the broker does not acknowledge a
// publish in time.
var ErrPublishTimeout = errors.New("no acknowledgement in time")

// PahoPublisher adapts a paho client to Publisher, waiting for each
// publish to be acknowledged (PUBACK for QoS 1) for at most a timeout.
type PahoPublisher struct {
	client  mqtt.Client
	timeout time.Duration
}

// NewPahoPublisher publishes through c, waiting at most timeout (10 s when
// zero or negative) for each acknowledgement.
func NewPahoPublisher(c mqtt.Client, timeout time.Duration) *PahoPublisher {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &PahoPublisher{client: c, timeout: timeout}
}

// Publish sends payload and waits for the broker's acknowledgement.
func (p *PahoPublisher) Publish(topic string, qos byte, retained bool, payload []byte) error {
	tok := p.client.Publish(topic, qos, retained, payload)
	if !tok.WaitTimeout(p.timeout) {
		return fmt.Errorf("publish %s: %w after %s", topic, ErrPublishTimeout, p.timeout)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}
