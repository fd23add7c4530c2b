package alerting

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// WebhookOptions tune a WebhookNotifier. Zero fields take the defaults.
type WebhookOptions struct {
	// Name labels the notifier's metrics and logs; default "webhook".
	// Give each webhook of a Dispatcher its own.
	Name string
	// Client sends the requests; default a plain http.Client. Its own
	// Timeout, if any, applies on top of Timeout below.
	Client *http.Client
	// Timeout bounds one attempt; default 10 s.
	Timeout time.Duration
	// MaxElapsed bounds all attempts of one event together; default 1 min.
	MaxElapsed time.Duration
	// InitialInterval and MaxInterval shape the exponential backoff
	// between attempts; defaults 500 ms and 30 s. MaxInterval also caps a
	// server's Retry-After.
	InitialInterval, MaxInterval time.Duration
	// Header is added to every request, e.g. Authorization.
	Header http.Header
	// Logger receives a debug line per retry; nil discards.
	Logger *slog.Logger
}

// WebhookNotifier POSTs each event as JSON to a URL. It retries connection
// errors, timeouts, 5xx, 408 and 429 with exponential backoff until
// MaxElapsed, and gives up at once on any other status: a 4xx means the
// request itself is wrong and sending it again cannot help. 429 and 408
// are the exceptions because they say "not now" rather than "not this",
// and an alert lost to a receiver's rate limit is the worse outcome.
type WebhookNotifier struct {
	url  string
	opts WebhookOptions
}

// StatusError is a webhook's non-2xx answer.
type StatusError struct {
	StatusCode int
	// Body is the start of the response body, for the log.
	Body string
	// RetryAfter is the wait the server asked for, if any.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return "status " + strconv.Itoa(e.StatusCode)
	}
	return "status " + strconv.Itoa(e.StatusCode) + ": " + e.Body
}

// Unwrap exposes a server's Retry-After to the backoff, which then waits
// that long instead of its own interval.
func (e *StatusError) Unwrap() error {
	if e.RetryAfter > 0 {
		return &backoff.RetryAfterError{Duration: e.RetryAfter}
	}
	return nil
}

// NewWebhookNotifier posts to rawURL, which must be http or https.
func NewWebhookNotifier(rawURL string, opts WebhookOptions) (*WebhookNotifier, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("webhook url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook url %q: want http:// or https:// with a host", u.Redacted())
	}
	if opts.Name == "" {
		opts.Name = "webhook"
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxElapsed <= 0 {
		opts.MaxElapsed = time.Minute
	}
	if opts.InitialInterval <= 0 {
		opts.InitialInterval = 500 * time.Millisecond
	}
	if opts.MaxInterval <= 0 {
		opts.MaxInterval = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &WebhookNotifier{url: rawURL, opts: opts}, nil
}

// Name is WebhookOptions.Name.
func (w *WebhookNotifier) Name() string { return w.opts.Name }

// Notify posts ev, retrying as the type's documentation says. Every
// attempt carries the event's idempotency key, in the body and in the
// Idempotency-Key header.
func (w *WebhookNotifier) Notify(ctx context.Context, ev Event) error {
	body, err := WebhookBody(ev)
	if err != nil {
		return fmt.Errorf("webhook %s: encode event: %w", w.opts.Name, err)
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = w.opts.InitialInterval, w.opts.MaxInterval
	attempts := 0
	_, err = backoff.Retry(ctx, func() (struct{}, error) {
		attempts++
		return struct{}{}, w.post(ctx, body, ev.IdempotencyKey())
	},
		backoff.WithBackOff(b),
		backoff.WithMaxElapsedTime(w.opts.MaxElapsed),
		backoff.WithNotify(func(err error, wait time.Duration) {
			w.opts.Logger.Debug("webhook retry", "notifier", w.opts.Name, "alert_id", ev.AlertID, "err", err, "wait", wait)
		}))
	if err != nil {
		return fmt.Errorf("webhook %s: gave up after %d attempts: %w", w.opts.Name, attempts, err)
	}
	return nil
}

// post makes one attempt. Errors wrapped in backoff.Permanent end the
// retries.
func (w *WebhookNotifier) post(ctx context.Context, body []byte, key string) error {
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return backoff.Permanent(err)
	}
	for k, vs := range w.opts.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(IdempotencyHeader, `"`+key+`"`)
	resp, err := w.opts.Client.Do(req)
	if err != nil {
		return err // connection refused or reset, timeout: worth another try
	}
	defer resp.Body.Close()
	// Read a little of the body for the error and discard the rest, so the
	// connection can be reused.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	se := &StatusError{StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(snippet))}
	switch {
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
		se.RetryAfter = min(retryAfter(resp.Header.Get("Retry-After"), time.Now()), w.opts.MaxInterval)
		return se
	default:
		return backoff.Permanent(se)
	}
}

// retryAfter parses a Retry-After header, in seconds or as an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
