package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// RetryOptions bound the delivery of one event. Zero fields take the
// defaults. Every channel's options embed it inline, so the keys sit next
// to the channel's own.
type RetryOptions struct {
	// Timeout bounds one attempt; default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxElapsed bounds all attempts of one event together; default 1m.
	// The Dispatcher's send timeout still applies on top.
	MaxElapsed time.Duration `yaml:"max_elapsed"`
	// InitialInterval and MaxInterval shape the exponential backoff
	// between attempts; defaults 500ms and 30s. MaxInterval also caps a
	// server's Retry-After, so one receiver cannot park the queue.
	InitialInterval time.Duration `yaml:"initial_interval"`
	MaxInterval     time.Duration `yaml:"max_interval"`
	// DeadLetter is the JSON-lines file that receives notifications that
	// never got through; empty keeps none.
	DeadLetter string `yaml:"dead_letter"`
}

func (o *RetryOptions) setDefaults() {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxElapsed <= 0 {
		o.MaxElapsed = time.Minute
	}
	if o.InitialInterval <= 0 {
		o.InitialInterval = 500 * time.Millisecond
	}
	if o.MaxInterval <= 0 {
		o.MaxInterval = 30 * time.Second
	}
}

// Deps is what a channel needs that cannot come from a configuration file.
// Zero fields take the defaults.
type Deps struct {
	// Client sends the requests; default a plain http.Client. Attempts
	// are bounded by RetryOptions.Timeout either way.
	Client *http.Client
	// Registerer receives the metrics; nil registers none. Channels may
	// share one: the metric vectors are registered once and reused.
	Registerer prometheus.Registerer
	// Logger receives retries and failures; nil discards.
	Logger *slog.Logger
	// Now is the wall clock, for signatures and timestamps; default
	// time.Now. Tests pin it.
	Now func() time.Time
	// Registry is the sensor registry in force, read per message: chat
	// messages then name a sensor's own alarm stage and carry its site's
	// response procedure and consequence (Site.Guidance). Nil: the
	// catalog's default setpoints and the shipped texts.
	Registry func() *sensors.Registry
	// Guidance is the rule files' response procedure and consequence per
	// rule in force (rulefile.Set.Guidance), read per message; they win
	// over the site's and the shipped texts. Nil: none.
	Guidance func() map[string]sensors.Guidance
}

func (d *Deps) setDefaults() {
	if d.Client == nil {
		d.Client = &http.Client{}
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
}

// Attempt results, the values of the result label of
// riskmon_notify_attempts_total.
const (
	resultSuccess   = "success"
	resultRetryable = "retryable_error"
	resultPermanent = "permanent_error"
)

// deliverer is the core every channel shares: retries, metrics and the
// dead letter around one attempt function.
type deliverer struct {
	name  string
	retry RetryOptions
	deps  Deps
	log   *slog.Logger
	dead  *deadLetter

	attemptOK, attemptRetry, attemptPerm prometheus.Counter
	deadLetters                          prometheus.Counter
}

func newDeliverer(name string, retry RetryOptions, deps Deps) (*deliverer, error) {
	retry.setDefaults()
	deps.setDefaults()
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, fmt.Errorf("notify %s: %w", name, err)
	}
	d := &deliverer{
		name:         name,
		retry:        retry,
		deps:         deps,
		log:          deps.Logger.With("notifier", name),
		attemptOK:    m.attempts.WithLabelValues(name, resultSuccess),
		attemptRetry: m.attempts.WithLabelValues(name, resultRetryable),
		attemptPerm:  m.attempts.WithLabelValues(name, resultPermanent),
		deadLetters:  m.deadLetters.WithLabelValues(name),
	}
	if retry.DeadLetter != "" {
		d.dead = &deadLetter{path: retry.DeadLetter}
	}
	return d, nil
}

// deliver runs attempt with retries until it succeeds, fails permanently
// or the budget runs out; then the event goes to the dead letter. Each
// attempt gets its own timeout. Errors attempt wraps in backoff.Permanent
// end the retries.
func (d *deliverer) deliver(ctx context.Context, ev alerting.Event, attempt func(ctx context.Context) error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = d.retry.InitialInterval, d.retry.MaxInterval
	n := 0
	var last error
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		n++
		actx, cancel := context.WithTimeout(ctx, d.retry.Timeout)
		defer cancel()
		err := attempt(actx)
		last = err
		var perm *backoff.PermanentError
		switch {
		case err == nil:
			d.attemptOK.Inc()
		case errors.As(err, &perm):
			d.attemptPerm.Inc()
		default:
			d.attemptRetry.Inc()
		}
		return struct{}{}, err
	},
		backoff.WithBackOff(b),
		backoff.WithMaxElapsedTime(d.retry.MaxElapsed),
		backoff.WithNotify(func(err error, wait time.Duration) {
			d.log.Debug("notify retry", "alert_id", ev.AlertID, "err", err, "wait", wait)
		}))
	if err == nil {
		return nil
	}
	if last != nil && ctx.Err() != nil && !errors.Is(err, last) {
		// Retry returns only the context's error when it is cancelled
		// while waiting; the receiver's last answer says more.
		err = fmt.Errorf("%w (last attempt: %v)", err, last)
	}
	err = fmt.Errorf("notify %s: gave up after %d attempts: %w", d.name, n, err)
	d.log.Warn("notification not delivered", "alert_id", ev.AlertID, "event", ev.Type.String(), "err", err)
	d.deadLetters.Inc()
	if d.dead != nil {
		if derr := d.dead.write(d.deps.Now(), d.name, ev, err); derr != nil {
			d.log.Error("dead letter not written", "alert_id", ev.AlertID, "path", d.dead.path, "err", derr)
			return errors.Join(err, derr)
		}
	}
	return err
}

// HTTPError is a receiver's non-2xx answer.
type HTTPError struct {
	StatusCode int
	// Body is the start of the response body, for the log.
	Body string
	// RetryAfter is the wait the server asked for, if any.
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	if e.Body == "" {
		return "status " + strconv.Itoa(e.StatusCode)
	}
	return "status " + strconv.Itoa(e.StatusCode) + ": " + e.Body
}

// Unwrap exposes a server's Retry-After to the backoff, which then waits
// that long instead of its own interval.
func (e *HTTPError) Unwrap() error {
	if e.RetryAfter > 0 {
		return &backoff.RetryAfterError{Duration: e.RetryAfter}
	}
	return nil
}

// APIError is a chat robot's refusal: HTTP 200 with a non-zero code in the
// body, the way DingTalk, WeCom and Feishu report errors.
type APIError struct {
	Code int64
	Msg  string
}

func (e *APIError) Error() string {
	return "error code " + strconv.FormatInt(e.Code, 10) + ": " + e.Msg
}

// post makes one POST of a JSON body and reads at most 64 KiB of the
// answer. A transport error or a retryable status comes back as a plain
// error; any other non-2xx status as a permanent one. 408 and 429 are
// retried because they say "not now" rather than "not this", and an alert
// lost to a receiver's rate limit is the worse outcome.
func (d *deliverer) post(ctx context.Context, url string, header http.Header, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return nil, backoff.Permanent(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.deps.Client.Do(req)
	if err != nil {
		return nil, err // connection refused or reset, timeout: worth another try
	}
	defer resp.Body.Close()
	// Drain up to the limit so the connection can be reused.
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return data, nil
	}
	snippet := data
	if len(snippet) > 512 {
		snippet = snippet[:512]
	}
	he := &HTTPError{StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(snippet))}
	if retryableStatus(resp.StatusCode) {
		he.RetryAfter = min(retryAfter(resp.Header.Get("Retry-After"), d.deps.Now()), d.retry.MaxInterval)
		return nil, he
	}
	return nil, backoff.Permanent(he)
}

func retryableStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
}

// retryAfter parses a Retry-After header, in seconds or as an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// apiResult turns a robot's code into an attempt result: nil for 0, a
// retryable error for the given rate-limit codes, else a permanent one.
func apiResult(code int64, msg string, retryable ...int64) error {
	if code == 0 {
		return nil
	}
	e := &APIError{Code: code, Msg: msg}
	for _, c := range retryable {
		if c == code {
			return e
		}
	}
	return backoff.Permanent(e)
}
