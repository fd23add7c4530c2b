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

// Signature headers of SignedWebhook.
const (
	SignatureHeader = "X-Riskmon-Signature"
	TimestampHeader = "X-Riskmon-Timestamp"
)

// SignedWebhookOptions configure a SignedWebhook.
type SignedWebhookOptions struct {
	// Name labels metrics, logs and dead letters; default
	// "signed_webhook". Give each webhook its own.
	Name string `yaml:"name"`
	// URL receives the POSTs; http or https.
	URL string `yaml:"url"`
	// Secret is the HMAC key shared with the receiver; required.
	Secret string `yaml:"secret"`
	// Header is added to every request, e.g. Authorization.
	Header       map[string]string `yaml:"header"`
	RetryOptions `yaml:",inline"`
}

// SignedWebhook POSTs each event as JSON, like alerting.WebhookNotifier,
// and signs it so the receiver can tell it came from riskmon and was not
// changed: X-Riskmon-Signature is "sha256=" and the hex HMAC-SHA256 of the
// body under the secret, X-Riskmon-Timestamp the send time in Unix
// seconds. The signature covers the body only, as the header's name
// promises; the timestamp is a hint for freshness, and a receiver that
// must reject replays deduplicates on the signed alert_id, type and at.
type SignedWebhook struct {
	opts SignedWebhookOptions
	d    *deliverer
}

// NewSignedWebhook checks opts and builds the notifier.
func NewSignedWebhook(opts SignedWebhookOptions, deps Deps) (*SignedWebhook, error) {
	if opts.Name == "" {
		opts.Name = "signed_webhook"
	}
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("signed webhook %s url: %w", opts.Name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("signed webhook %s url %q: want http:// or https:// with a host", opts.Name, u.Redacted())
	}
	if opts.Secret == "" {
		return nil, fmt.Errorf("signed webhook %s: secret is required", opts.Name)
	}
	d, err := newDeliverer(opts.Name, opts.RetryOptions, deps)
	if err != nil {
		return nil, err
	}
	return &SignedWebhook{opts: opts, d: d}, nil
}

// Name is SignedWebhookOptions.Name.
func (n *SignedWebhook) Name() string { return n.opts.Name }

// Notify posts ev, retrying as the package documentation says.
func (n *SignedWebhook) Notify(ctx context.Context, ev alerting.Event) error {
	body, err := alerting.WebhookBody(ev)
	if err != nil {
		return fmt.Errorf("signed webhook %s: encode event: %w", n.opts.Name, err)
	}
	sig := Sign([]byte(n.opts.Secret), body)
	return n.d.deliver(ctx, ev, func(ctx context.Context) error {
		h := http.Header{}
		for k, v := range n.opts.Header {
			h.Set(k, v)
		}
		h.Set(SignatureHeader, sig)
		h.Set(alerting.IdempotencyHeader, `"`+ev.IdempotencyKey()+`"`)
		h.Set(TimestampHeader, strconv.FormatInt(n.d.deps.Now().Unix(), 10))
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
