package alerting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// DispatcherOptions tune a Dispatcher. Zero fields take the defaults.
type DispatcherOptions struct {
	// QueueSize bounds each notifier's queue; default 1024. When a queue
	// is full its oldest event is dropped: the newest says most about the
	// present.
	QueueSize int
	// SendTimeout bounds one Notify call, retries included; default 2 min.
	SendTimeout time.Duration
	// Registerer receives the dispatcher's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger receives failed sends and (rate-limited) drops; nil discards.
	Logger *slog.Logger
}

// Dispatcher is the Sink that delivers events to notifiers. Each notifier
// has its own bounded queue and goroutine, so a slow or failing one never
// delays the others, and Emit never blocks.
//
// Run starts the delivery goroutines; Close stops accepting events and
// waits for the queues to drain.
type Dispatcher struct {
	workers     []*worker
	sendTimeout time.Duration
	log         *slog.Logger
	m           dispatchMetrics

	mu      sync.Mutex
	started bool               // guarded by mu; Run began, or Close gave up before it did
	abort   context.CancelFunc // guarded by mu; cancels Run's context
	// done is closed once nothing more will be delivered: Run returned, or
	// Close gave up before Run began. undelivered is written before.
	done        chan struct{}
	undelivered int
}

type worker struct {
	n          Notifier
	q          *queue
	success    prometheus.Counter
	failure    prometheus.Counter
	dropFull   prometheus.Counter
	dropClosed prometheus.Counter
	latency    prometheus.Observer
	logDrop    rate.Sometimes
}

// NewDispatcher builds a dispatcher for notifiers, which must have
// distinct names. It starts nothing until Run.
func NewDispatcher(notifiers []Notifier, opts DispatcherOptions) (*Dispatcher, error) {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = 2 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		sendTimeout: opts.SendTimeout,
		log:         opts.Logger,
		m:           newDispatchMetrics(),
		done:        make(chan struct{}),
	}
	seen := map[string]bool{}
	for _, n := range notifiers {
		name := n.Name()
		if seen[name] {
			return nil, fmt.Errorf("alerting: two notifiers named %q", name)
		}
		seen[name] = true
		w := &worker{
			n:          n,
			q:          newQueue(opts.QueueSize),
			success:    d.m.sent.WithLabelValues(name, "success"),
			failure:    d.m.sent.WithLabelValues(name, "failure"),
			dropFull:   d.m.dropped.WithLabelValues(name, "queue_full"),
			dropClosed: d.m.dropped.WithLabelValues(name, "shutdown"),
			latency:    d.m.latency.WithLabelValues(name),
			logDrop:    rate.Sometimes{First: 1, Interval: 10 * time.Second},
		}
		d.m.queued = append(d.m.queued, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "riskmon_notification_queue_length",
			Help:        "Events waiting in a notifier's queue.",
			ConstLabels: prometheus.Labels{"notifier": name},
		}, func() float64 { return float64(w.q.len()) }))
		d.workers = append(d.workers, w)
	}
	if opts.Registerer != nil {
		if err := d.m.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("alerting: register dispatcher metrics: %w", err)
		}
	}
	return d, nil
}

// Emit queues ev for every notifier. It never blocks: a full queue drops
// its oldest event, and after Close events are dropped; both are counted
// in riskmon_notifications_dropped_total.
func (d *Dispatcher) Emit(ev Event) {
	for _, w := range d.workers {
		switch w.q.push(ev) {
		case pushDroppedOldest:
			w.dropFull.Inc()
			w.logDrop.Do(func() {
				d.log.Warn("notification queue full, dropped the oldest event", "notifier", w.n.Name())
			})
		case pushClosed:
			w.dropClosed.Inc()
		}
	}
}

// Run delivers events until Close has drained the queues or ctx is done;
// cancelling ctx stops at once, cancelling sends in flight, and counts
// what is left as dropped. Run may be called once; it returns an error
// only when called again.
func (d *Dispatcher) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.mu.Lock()
	if d.started {
		d.mu.Unlock()
		return errors.New("alerting: dispatcher already ran, or Close gave up on it")
	}
	d.started, d.abort = true, cancel
	d.mu.Unlock()

	var wg sync.WaitGroup
	for _, w := range d.workers {
		wg.Go(func() { d.work(ctx, w) })
	}
	wg.Wait()
	for _, w := range d.workers {
		// Later Emits must count as dropped, not pile up unread.
		w.q.close()
	}
	d.undelivered = d.discard()
	close(d.done)
	return nil
}

func (d *Dispatcher) work(ctx context.Context, w *worker) {
	for ctx.Err() == nil {
		ev, ok, closed := w.q.pop()
		if ok {
			d.send(ctx, w, ev)
			continue
		}
		if closed {
			return // drained
		}
		select {
		case <-w.q.wake:
		case <-ctx.Done():
		}
	}
}

func (d *Dispatcher) send(ctx context.Context, w *worker, ev Event) {
	ctx, cancel := context.WithTimeout(ctx, d.sendTimeout)
	defer cancel()
	start := time.Now()
	err := w.n.Notify(ctx, ev)
	w.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		w.failure.Inc()
		d.log.Warn("notification failed", "notifier", w.n.Name(), "alert_id", ev.AlertID, "event", ev.Type.String(), "err", err)
		return
	}
	w.success.Inc()
}

// Close stops accepting events and waits until Run has delivered what is
// queued; a Run that starts while Close waits still drains. If ctx ends
// first, Close cancels the sends in flight, waits for Run to return, and
// reports how many events were left undelivered; if Run never started, it
// drops what is queued and Run will not start afterwards. Close may be
// called more than once.
func (d *Dispatcher) Close(ctx context.Context) error {
	for _, w := range d.workers {
		w.q.close()
	}
	select {
	case <-d.done:
		return nil
	case <-ctx.Done():
	}
	d.mu.Lock()
	started, abort := d.started, d.abort
	d.started = true // a late Run must not start on what was given up
	d.mu.Unlock()
	if started {
		if abort != nil { // nil when another Close gave up before Run began
			abort()
		}
		<-d.done
	} else {
		d.undelivered = d.discard()
		close(d.done)
	}
	return fmt.Errorf("alerting: dispatcher close: %d notifications undelivered: %w", d.undelivered, ctx.Err())
}

// discard empties every queue, counting the events as dropped at shutdown.
func (d *Dispatcher) discard() int {
	total := 0
	for _, w := range d.workers {
		n := w.q.discard()
		w.dropClosed.Add(float64(n))
		total += n
	}
	return total
}

type dispatchMetrics struct {
	sent    *prometheus.CounterVec
	dropped *prometheus.CounterVec
	latency *prometheus.HistogramVec
	queued  []prometheus.Collector
}

func newDispatchMetrics() dispatchMetrics {
	return dispatchMetrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskmon_notifications_total",
			Help: "Notification attempts by notifier and result (success or failure, after retries).",
		}, []string{"notifier", "result"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskmon_notifications_dropped_total",
			Help: "Events dropped before a notifier saw them, by reason (queue_full, shutdown).",
		}, []string{"notifier", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "riskmon_notification_duration_seconds",
			Help:    "Time one notification took, retries included.",
			Buckets: []float64{.005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 120},
		}, []string{"notifier"}),
	}
}

func (m dispatchMetrics) register(reg prometheus.Registerer) error {
	for _, c := range append([]prometheus.Collector{m.sent, m.dropped, m.latency}, m.queued...) {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// queue is a bounded FIFO of events that drops its oldest entry when full.
// A mutex and a ring beat a channel here: dropping the oldest from a full
// channel races with the reader, and the producer must never block.
type queue struct {
	mu     sync.Mutex
	buf    []Event
	head   int // index of the oldest event
	n      int // events queued
	closed bool
	// wake holds one token when events may be waiting, so the reader can
	// sleep without missing a push.
	wake chan struct{}
}

type pushResult uint8

const (
	pushOK pushResult = iota
	pushDroppedOldest
	pushClosed
)

func newQueue(size int) *queue {
	return &queue{buf: make([]Event, size), wake: make(chan struct{}, 1)}
}

func (q *queue) push(ev Event) pushResult {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return pushClosed
	}
	res := pushOK
	if q.n == len(q.buf) {
		q.buf[q.head] = Event{}
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		res = pushDroppedOldest
	}
	q.buf[(q.head+q.n)%len(q.buf)] = ev
	q.n++
	q.mu.Unlock()
	q.signal()
	return res
}

// pop takes the oldest event. When there is none, closed says whether any
// can still come.
func (q *queue) pop() (ev Event, ok, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return Event{}, false, q.closed
	}
	ev = q.buf[q.head]
	q.buf[q.head] = Event{} // let the strings go
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return ev, true, q.closed
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// discard empties the queue and says how many events it held.
func (q *queue) discard() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.n
	clear(q.buf)
	q.head, q.n = 0, 0
	return n
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
