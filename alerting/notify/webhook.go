package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/riskmon/riskmon/alerting"
)

// Signature headers of a Webhook with a secret.
const (
	SignatureHeader = "X-Riskmon-Signature"
	TimestampHeader = "X-Riskmon-Timestamp"
)

// WebhookOptions configure a Webhook.
type WebhookOptions struct {
	// Name labels metrics, logs and dead letters; default "webhook", or
	// "signed_webhook" with a Secret. Give each webhook its own.
	Name string `yaml:"name"`
	// URL receives the POSTs; http or https.
	URL string `yaml:"url"`
	// Secret, when set, is the HMAC key shared with the receiver, and
	// every request is signed with it; empty sends unsigned.
	Secret string `yaml:"secret"`
	// Header is added to every request, e.g. Authorization.
	Header       map[string]string `yaml:"header"`
	RetryOptions `yaml:",inline"`
}

// Webhook POSTs each event as JSON (EventBody). Every attempt carries the
// event's idempotency key, in the body and in the Idempotency-Key header.
// Retries are those of the package documentation: connection errors,
// timeouts, 5xx, 408 and 429 (honouring Retry-After) until MaxElapsed;
// any other 4xx ends them at once, since the request itself is wrong.
//
// With a Secret the receiver can tell the event came from riskmon and was
// not changed: X-Riskmon-Signature is "sha256=" and the hex HMAC-SHA256
// of the body under the secret, X-Riskmon-Timestamp the send time in Unix
// seconds. The signature covers the body only, as the header's name
// promises; the timestamp is a hint for freshness, and a receiver that
// must reject replays deduplicates on the signed alert_id, type and at.
type Webhook struct {
	opts WebhookOptions
	d    *deliverer
}

// NewWebhook checks opts and builds the notifier.
func NewWebhook(opts WebhookOptions, deps Deps) (*Webhook, error) {
	if opts.Name == "" {
		opts.Name = "webhook"
		if opts.Secret != "" {
			opts.Name = "signed_webhook"
		}
	}
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("webhook %s url: %w", opts.Name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook %s url %q: want http:// or https:// with a host", opts.Name, u.Redacted())
	}
	d, err := newDeliverer(opts.Name, opts.RetryOptions, deps)
	if err != nil {
		return nil, err
	}
	return &Webhook{opts: opts, d: d}, nil
}

// Name is WebhookOptions.Name.
func (n *Webhook) Name() string { return n.opts.Name }

// Notify posts ev, retrying as the package documentation says.
func (n *Webhook) Notify(ctx context.Context, ev alerting.Event) error {
	body, err := EventBody(ev, n.d.deps.texts(ev))
	if err != nil {
		return fmt.Errorf("webhook %s: encode event: %w", n.opts.Name, err)
	}
	var sig string
	if n.opts.Secret != "" {
		sig = Sign([]byte(n.opts.Secret), body)
	}
	return n.d.deliver(ctx, ev, func(ctx context.Context) error {
		h := http.Header{}
		for k, v := range n.opts.Header {
			h.Set(k, v)
		}
		h.Set(IdempotencyHeader, `"`+ev.IdempotencyKey()+`"`)
		if sig != "" {
			h.Set(SignatureHeader, sig)
			h.Set(TimestampHeader, strconv.FormatInt(n.d.deps.Now().Unix(), 10))
		}
		_, err := n.d.post(ctx, n.opts.URL, h, body)
		return err
	})
}

// Sign returns the X-Riskmon-Signature value of body: "sha256=" and the
// hex HMAC-SHA256 of body under secret. Receivers compare it with
// hmac.Equal, not ==, so the comparison leaks no timing.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
