package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// AlertmanagerOptions configure an Alertmanager notifier.
type AlertmanagerOptions struct {
	// Name labels metrics, logs and dead letters; default "alertmanager".
	Name string `yaml:"name"`
	// URL is the Alertmanager's base URL, e.g. http://127.0.0.1:9093;
	// alerts go to URL/api/v2/alerts.
	URL string `yaml:"url"`
	// ResendInterval is how often the firing alerts are sent again;
	// default 1m. Each is sent valid for four intervals, so Alertmanager
	// resolves an alert by itself about four intervals after riskmon
	// stopped sending it (riskmon down, or its resolve lost).
	ResendInterval time.Duration `yaml:"resend_interval"`
	// GeneratorURL, when set, is every alert's link back to riskmon, e.g.
	// its /api/alerts.
	GeneratorURL string `yaml:"generator_url"`
	// Labels are added to every alert, e.g. {env: prod}; they cannot
	// replace the event's own labels.
	Labels       map[string]string `yaml:"labels"`
	RetryOptions `yaml:",inline"`
}

// Alertmanager pushes events to a Prometheus Alertmanager as postable
// alerts (POST /api/v2/alerts), so that its routing, grouping, silences
// and inhibition apply to riskmon's alerts.
//
// Labels are alertname (the rule), site, sensor, kind, severity, level
// and color, plus AlertmanagerOptions.Labels; annotations are summary
// (the event's message), alert_id, and the operator's text in both
// languages: summary_zh and summary_en (level and stage, what, the
// reading) and procedure_zh and procedure_en (what to do). Alertmanager identifies an alert by
// its labels, so an escalation or de-escalation, which changes level,
// severity and color, is sent as the old alert resolved and the new one
// firing; otherwise the old level would stay firing until it expired.
//
// Alertmanager forgets an alert that is not sent again before it ends, so
// the notifier keeps the firing alerts and Run sends them again every
// ResendInterval, as Prometheus does. Run must be started for alerts to
// stay alive; Close stops it. The set lives in memory: after a restart
// alerts are raised again by the engine (with new ids) and the old ones
// expire on their own.
type Alertmanager struct {
	opts     AlertmanagerOptions
	endpoint string
	d        *deliverer

	mu     sync.Mutex
	active map[string]postableAlert // guarded by mu; firing alerts by alert id

	stop     chan struct{}
	stopOnce sync.Once
	runMu    sync.Mutex // held while Run runs, so Close can wait for it
}

// postableAlert is Alertmanager's API v2 PostableAlert.
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// NewAlertmanager checks opts and builds the notifier. It sends nothing
// until the first event; call Run to keep firing alerts alive.
func NewAlertmanager(opts AlertmanagerOptions, deps Deps) (*Alertmanager, error) {
	if opts.Name == "" {
		opts.Name = "alertmanager"
	}
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("alertmanager %s url: %w", opts.Name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("alertmanager %s url %q: want http:// or https:// with a host", opts.Name, u.Redacted())
	}
	if opts.GeneratorURL != "" {
		if _, err := url.Parse(opts.GeneratorURL); err != nil {
			return nil, fmt.Errorf("alertmanager %s generator_url: %w", opts.Name, err)
		}
	}
	if opts.ResendInterval <= 0 {
		opts.ResendInterval = time.Minute
	}
	d, err := newDeliverer(opts.Name, opts.RetryOptions, deps)
	if err != nil {
		return nil, err
	}
	return &Alertmanager{
		opts:     opts,
		endpoint: strings.TrimSuffix(opts.URL, "/") + "/api/v2/alerts",
		d:        d,
		active:   map[string]postableAlert{},
		stop:     make(chan struct{}),
	}, nil
}

// Name is AlertmanagerOptions.Name.
func (n *Alertmanager) Name() string { return n.opts.Name }

// Notify sends the alerts ev changes and updates the set of firing alerts,
// retrying as the package documentation says. The set is updated before
// sending, so an alert whose fired event was not delivered still reaches
// Alertmanager with the next resend.
func (n *Alertmanager) Notify(ctx context.Context, ev alerting.Event) error {
	now := n.d.deps.Now()
	var batch []postableAlert
	n.mu.Lock()
	switch ev.Type {
	case alerting.EventFired, alerting.EventUpdated:
		// An update restates the alert with its new estimate; Alertmanager
		// keys alerts by their labels, so it is the same alert.
		a := n.alert(ev, ev.Level, now)
		n.active[ev.AlertID] = a
		batch = []postableAlert{a}
	case alerting.EventEscalated, alerting.EventDeescalated:
		old := n.alert(ev, ev.PrevLevel, now)
		old.EndsAt = ev.At
		a := n.alert(ev, ev.Level, now)
		n.active[ev.AlertID] = a
		batch = []postableAlert{old, a}
	case alerting.EventResolved:
		a := n.alert(ev, ev.TopicLevel(), now)
		a.EndsAt = ev.At
		delete(n.active, ev.AlertID)
		batch = []postableAlert{a}
	case alerting.EventAcknowledged, alerting.EventReminder:
		// Alertmanager has no acknowledgement; its silences are its own,
		// and it repeats notifications itself (repeat_interval).
		n.mu.Unlock()
		return nil
	default:
		n.mu.Unlock()
		return fmt.Errorf("alertmanager %s: event type %v", n.opts.Name, ev.Type)
	}
	n.mu.Unlock()
	body, err := json.Marshal(batch)
	if err != nil {
		return fmt.Errorf("alertmanager %s: encode: %w", n.opts.Name, err)
	}
	return n.d.deliver(ctx, ev, func(ctx context.Context) error {
		_, err := n.d.post(ctx, n.endpoint, nil, body)
		return err
	})
}

// alert builds the postable alert of ev at level, firing and valid for
// four resend intervals from now.
func (n *Alertmanager) alert(ev alerting.Event, level sensors.Level, now time.Time) postableAlert {
	labels := make(map[string]string, 7+len(n.opts.Labels))
	maps.Copy(labels, n.opts.Labels)
	for k, v := range map[string]string{
		"alertname": ev.Rule,
		"site":      ev.Site,
		"sensor":    ev.Sensor,
		"kind":      string(ev.Kind),
		"severity":  level.Severity(),
		"level":     strconv.Itoa(int(level)),
		"color":     level.Color(),
	} {
		// An empty value is the same as no label to Alertmanager.
		if v != "" {
			labels[k] = v
		}
	}
	a := postableAlert{
		Labels:       labels,
		Annotations:  map[string]string{"summary": ev.Message, "alert_id": ev.AlertID},
		StartsAt:     ev.StartsAt,
		GeneratorURL: n.opts.GeneratorURL,
	}
	// The operator's words beside the engine's, for templates that page
	// people: what it is and what to do, in both languages.
	text := n.d.deps.texts(ev)
	for k, v := range map[string]string{
		"summary_zh": text.ZH.Label + " " + text.ZH.What + "：" + text.ZH.Message, "procedure_zh": text.ZH.Procedure,
		"summary_en": text.EN.Label + " " + text.EN.What + ": " + text.EN.Message, "procedure_en": text.EN.Procedure,
	} {
		if v != "" {
			a.Annotations[k] = v
		}
	}
	if ev.Late {
		// An annotation, not a label: the alert is the same alert whether
		// or not its news came late.
		a.Annotations["retrospective"] = "true"
	}
	if ev.Flapping {
		a.Annotations["flapping"] = "true"
	}
	a.EndsAt = validUntil(a.StartsAt, now, n.opts.ResendInterval)
	return a
}

// validUntil is when a firing alert expires unless sent again: four
// intervals, so that three lost resends in a row do not resolve it. It is
// never before startsAt, which Alertmanager would reject; device clocks
// can run ahead of ours.
func validUntil(startsAt, now time.Time, interval time.Duration) time.Time {
	if startsAt.After(now) {
		now = startsAt
	}
	return now.Add(4 * interval).UTC()
}

// Run sends the firing alerts every ResendInterval until ctx is cancelled
// or Close is called. A failed resend is logged and counted; the next one
// tries again, so it is not retried and not dead-lettered.
func (n *Alertmanager) Run(ctx context.Context) error {
	n.runMu.Lock()
	defer n.runMu.Unlock()
	t := time.NewTicker(n.opts.ResendInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.stop:
			return nil
		case <-t.C:
			n.resend(ctx)
		}
	}
}

// Close stops Run and waits for it to return. It does not resolve the
// firing alerts: riskmon stopping does not end a hazard, and they expire
// on their own if riskmon does not come back.
func (n *Alertmanager) Close() error {
	n.stopOnce.Do(func() { close(n.stop) })
	n.runMu.Lock()
	defer n.runMu.Unlock()
	return nil
}

// resend posts every firing alert once, with fresh expiry.
func (n *Alertmanager) resend(ctx context.Context) {
	now := n.d.deps.Now()
	n.mu.Lock()
	batch := make([]postableAlert, 0, len(n.active))
	for _, id := range slices.Sorted(maps.Keys(n.active)) {
		a := n.active[id]
		a.EndsAt = validUntil(a.StartsAt, now, n.opts.ResendInterval)
		n.active[id] = a
		batch = append(batch, a)
	}
	n.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	body, err := json.Marshal(batch)
	if err != nil {
		n.d.log.Error("alertmanager resend: encode", "err", err)
		return
	}
	actx, cancel := context.WithTimeout(ctx, n.d.retry.Timeout)
	defer cancel()
	_, err = n.d.post(actx, n.endpoint, nil, body)
	var perm *backoff.PermanentError
	switch {
	case err == nil:
		n.d.attemptOK.Inc()
	case errors.As(err, &perm):
		n.d.attemptPerm.Inc()
	default:
		n.d.attemptRetry.Inc()
	}
	if err != nil {
		n.d.log.Warn("alertmanager resend failed", "alerts", len(batch), "err", err)
	}
}

// Active returns the number of firing alerts being kept alive.
func (n *Alertmanager) Active() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.active)
}
