package simulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// qos is the QoS of every simulated publish: the protocol asks for 1, and
// only an acknowledged publish tells us what reached the broker.
const qos = 1

// errUnconfirmed means a publish was handed to the client but neither
// acknowledged nor refused before the run's grace period ended, so it may
// or may not have reached the broker.
var errUnconfirmed = errors.New("publish not acknowledged before the run ended")

// clientOptions are the paho settings every simulated gateway shares.
//
// broker may list several URLs separated by commas, as a gateway set up
// with the nodes of a broker cluster lists them: the client connects to
// the first that answers, and after a lost connection tries them in turn.
func clientOptions(broker, clientID string, timeout time.Duration, log *slog.Logger) *mqtt.ClientOptions {
	o := mqtt.NewClientOptions()
	for _, b := range brokerURLs(broker) {
		o.AddBroker(b)
	}
	return o.
		SetClientID(clientID).
		SetCleanSession(true).
		// Auto reconnect keeps unacknowledged QoS 1 publishes in paho's
		// store and resends them after a reconnect, which is what lets
		// a broker bounce pass without loss.
		SetAutoReconnect(true).
		SetMaxReconnectInterval(2 * time.Second).
		SetConnectRetry(false).
		SetConnectTimeout(timeout).
		SetWriteTimeout(timeout).
		SetKeepAlive(30 * time.Second).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			log.Warn("gateway connection lost", "err", err)
		})
}

// dial connects a client, giving up after timeout or when ctx ends.
func dial(ctx context.Context, o *mqtt.ClientOptions, timeout time.Duration) (mqtt.Client, error) {
	c := mqtt.NewClient(o)
	tok := c.Connect()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return nil, fmt.Errorf("connect %s to %v: %w", o.ClientID, o.Servers, err)
		}
		return c, nil
	case <-t.C:
		err := fmt.Errorf("connect %s to %v: no answer in %s", o.ClientID, o.Servers, timeout)
		c.Disconnect(0)
		return nil, err
	case <-ctx.Done():
		c.Disconnect(0)
		return nil, fmt.Errorf("connect %s: %w", o.ClientID, ctx.Err())
	}
}

// drainContext is done one grace period after parent is: publishes that
// are out when a run stops get that long to be acknowledged, so a normal
// stop leaves no message whose fate is unknown.
func drainContext(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() { time.AfterFunc(grace, cancel) })
	return ctx, func() {
		stop()
		cancel()
	}
}

// link is one gateway's client and the counters of its publish outcomes.
type link struct {
	client  mqtt.Client
	timeout time.Duration
	log     *slog.Logger
	failed  *atomic.Int64 // attempts that ended in an error and were sent again
	stalled *atomic.Int64 // waits that passed timeout with no answer yet
}

// await waits for a publish token until drain is done. A wait that passes
// the timeout is logged and counted but not abandoned: paho still holds
// the message and resends it after a reconnect, so publishing it again
// would only make a duplicate.
func (l *link) await(drain context.Context, tok mqtt.Token) error {
	t := time.NewTimer(l.timeout)
	defer t.Stop()
	for {
		select {
		case <-tok.Done():
			return tok.Error()
		case <-t.C:
			l.stalled.Add(1)
			l.log.Warn("publish not acknowledged yet, still waiting", "after", l.timeout)
			t.Reset(l.timeout)
		case <-drain.Done():
			select {
			case <-tok.Done():
				return tok.Error()
			default:
				return errUnconfirmed
			}
		}
	}
}

// deliver publishes payload at QoS 1 until the broker acknowledges it,
// publishing again after an error. It stops trying when ctx is done and
// waits for an outstanding acknowledgement until drain is done. kept
// reports that paho may still reference payload, so the caller must not
// reuse its buffer.
func (l *link) deliver(ctx, drain context.Context, topic string, retained bool, payload []byte) (kept bool, err error) {
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return kept, err
		}
		// paho keeps a reference to the payload in its store until the
		// broker acknowledges it, and a reconnect may complete the token
		// of a message it is about to resend; a caller reusing its buffer
		// would then resend the wrong bytes. Each publish gets its own
		// copy.
		err := l.await(drain, l.client.Publish(topic, qos, retained, bytes.Clone(payload)))
		if err == nil {
			return kept, nil
		}
		if errors.Is(err, errUnconfirmed) {
			return true, err
		}
		l.failed.Add(1)
		l.log.Warn("publish failed, sending again", "topic", topic, "attempt", attempt, "err", err)
		// A refused publish may still sit in paho's store, holding the
		// slice; the next attempt gets its own copy.
		payload, kept = bytes.Clone(payload), true
		if err := sleepCtx(ctx, backoff(attempt)); err != nil {
			return kept, err
		}
	}
}

// backoff grows linearly to 2 s: a publish fails when the client is
// between connections, which the reconnect interval bounds.
func backoff(attempt int) time.Duration {
	return min(time.Duration(attempt)*200*time.Millisecond, 2*time.Second)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// brokerURLs splits a comma-separated list of broker URLs.
func brokerURLs(broker string) []string {
	var out []string
	for _, b := range strings.Split(broker, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}
