package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riskmon/riskmon/alerting"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Notifier delivers events to one destination. Notify must honour ctx: the
// Dispatcher cancels it to bound a send and to stop at shutdown. Name
// labels the notifier's metrics and logs and must be unique within a
// Dispatcher. The channels themselves live in package notify.
type Notifier interface {
	Notify(ctx context.Context, ev alerting.Event) error
	Name() string
}

// Outbox keeps, across a restart, the notifications each notifier has
// still to send and the keys of those it sent; lifecycle.Store is one.
type Outbox interface {
	// Enqueue adds ev under key to the outbox of each notifier that has
	// neither sent it nor has it waiting, and reports, per notifier, the
	// sequence number it was stored under (0 for a duplicate). begun
	// (nil, or one per notifier) marks the notifiers whose send begins
	// as soon as the commit is done, recorded as Tried in the same
	// commit.
	Enqueue(notifiers []string, begun []bool, key string, ev alerting.Event) ([]uint64, error)
	// Tried records that a send begins.
	Tried(notifier, key string) error
	// Done takes a notification out of the outbox, its key recorded as
	// sent at t.
	Done(notifier string, seq uint64, key string, t time.Time) error
	// Pending calls fn with a notifier's waiting notifications, in order;
	// tried says a send of it had begun.
	Pending(notifier string, fn func(seq uint64, key string, ev alerting.Event, tried bool)) error
	// PruneSent forgets keys sent before cutoff.
	PruneSent(cutoff time.Time) (int, error)
}

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
	// Store, when set, makes the queues a durable outbox: an event is
	// committed to disk, once per notifier under its idempotency key
	// (Event.Key), before Emit returns, and leaves the outbox only when
	// its notifier is done with it. A restart resends what was waiting;
	// the same change emitted twice (a redelivered reading, a replay) is
	// notified once. Keys are kept for SentRetention (default 48 h).
	Store         Outbox
	SentRetention time.Duration
	// Now is the clock of the delivered-key records; default time.Now.
	Now func() time.Time
}

// Dispatcher is the Sink that delivers events to notifiers. Each notifier
// has its own bounded queue and goroutine, so a slow or failing one never
// delays the others, and Emit never blocks.
//
// Run starts the delivery goroutines; Close stops accepting events and
// waits for the queues to drain.
type Dispatcher struct {
	workers     []*worker
	names       []string
	sendTimeout time.Duration
	log         *slog.Logger
	m           dispatchMetrics
	store       Outbox
	retention   time.Duration
	now         func() time.Time
	logStore    rate.Sometimes
	finishing   sync.WaitGroup // outbox records of sends done

	// queued holds the keys of changes whose notifications the alert
	// store committed with the change itself (Queued), for Emit to pass
	// over when the change reaches it.
	qmu    sync.Mutex
	queued map[string]struct{} // guarded by qmu

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
	duplicate  prometheus.Counter
	resent     prometheus.Counter
	latency    prometheus.Observer
	logDrop    rate.Sometimes
	// sending is set while the worker holds an item it took.
	sending atomic.Bool
}

// idle reports whether the worker would take an item pushed now at once:
// its queue is empty and no send is in flight.
//
// The queue is read before the flag. The worker sets the flag before it
// takes an item, so an empty queue followed by a clear flag means no item
// was taken in between. Read the other way round, a flag read clear just
// before the worker takes the last queued item, and a queue read empty
// just after, would call a busy worker idle.
func (w *worker) idle() bool { return w.q.len() == 0 && !w.sending.Load() }

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
	if opts.SentRetention <= 0 {
		opts.SentRetention = 48 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	d := &Dispatcher{
		sendTimeout: opts.SendTimeout,
		log:         opts.Logger,
		m:           newDispatchMetrics(),
		done:        make(chan struct{}),
		store:       opts.Store,
		retention:   opts.SentRetention,
		now:         opts.Now,
		logStore:    rate.Sometimes{First: 1, Interval: time.Minute},
		queued:      map[string]struct{}{},
	}
	seen := map[string]bool{}
	for _, n := range notifiers {
		name := n.Name()
		if seen[name] {
			return nil, fmt.Errorf("alerting: two notifiers named %q", name)
		}
		seen[name] = true
		w := d.newWorker(n, name, opts.QueueSize)
		d.workers = append(d.workers, w)
		d.names = append(d.names, name)
	}
	d.m.shelved = d.m.suppressed.WithLabelValues("", "shelved")
	d.m.planned = d.m.suppressed.WithLabelValues("", "planned")
	if err := d.restorePending(opts.QueueSize); err != nil {
		return nil, err
	}
	if opts.Registerer != nil {
		if err := d.m.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("alerting: register dispatcher metrics: %w", err)
		}
	}
	return d, nil
}

// newWorker builds the queue and the metrics of one notifier.
func (d *Dispatcher) newWorker(n Notifier, name string, queueSize int) *worker {
	w := &worker{
		n:          n,
		q:          newQueue(queueSize),
		success:    d.m.sent.WithLabelValues(name, "success"),
		failure:    d.m.sent.WithLabelValues(name, "failure"),
		dropFull:   d.m.dropped.WithLabelValues(name, "queue_full"),
		dropClosed: d.m.dropped.WithLabelValues(name, "shutdown"),
		duplicate:  d.m.suppressed.WithLabelValues(name, "duplicate"),
		resent:     d.m.resent.WithLabelValues(name),
		latency:    d.m.latency.WithLabelValues(name),
		logDrop:    rate.Sometimes{First: 1, Interval: 10 * time.Second},
	}
	d.m.queued = append(d.m.queued, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "riskmon_notification_queue_length",
		Help:        "Events waiting in a notifier's queue.",
		ConstLabels: prometheus.Labels{"notifier": name},
	}, func() float64 { return float64(w.q.len()) }))
	return w
}

// restorePending queues, ahead of anything new, what each notifier's
// outbox held when the last process stopped.
func (d *Dispatcher) restorePending(queueSize int) error {
	if d.store == nil {
		return nil
	}
	// What was waiting when the last process stopped goes first.
	for _, w := range d.workers {
		var entries []item
		err := d.store.Pending(w.n.Name(), func(seq uint64, key string, ev alerting.Event, tried bool) {
			entries = append(entries, item{ev: ev, seq: seq, key: key, tried: tried})
		})
		if err != nil {
			return fmt.Errorf("alerting: outbox of %s: %w", w.n.Name(), err)
		}
		if len(entries) > 0 {
			// Room for all of them and a full queue of new events: the
			// drop-oldest rule is for a live flood, and applying it to
			// what a restart found waiting would lose those unsent.
			w.q = newQueue(len(entries) + queueSize)
		}
		for _, it := range entries {
			d.push(w, it)
		}
		d.m.restored.Add(float64(len(entries)))
	}
	return nil
}

// Emit queues ev for every notifier. Events of shelved or planned
// (out-of-service) alerts are not notified: they are recorded elsewhere
// and counted here. Without a Store, Emit never blocks: a full queue
// drops its oldest event, and after Close events are dropped; both are
// counted in riskmon_notifications_dropped_total. With a Store, Emit
// returns once the event is committed to the outbox (a few milliseconds,
// shared by concurrent callers).
func (d *Dispatcher) Emit(ev alerting.Event) {
	switch {
	case ev.Planned:
		d.m.planned.Inc()
		return
	case ev.Shelved != "":
		d.m.shelved.Inc()
		return
	}
	if d.store == nil {
		for _, w := range d.workers {
			d.push(w, item{ev: ev})
		}
		return
	}
	key := ev.Key()
	if d.takeQueued(key) {
		return // committed and queued with the change's record
	}
	// A notifier with nothing queued and nothing in flight sends this
	// event at once: its send is recorded as begun in the enqueueing
	// commit, which spares the page a commit of its own (a third of what
	// a page waits for). Should the process stop between the two, the
	// restart counts a first send as a re-send: too many, never too few.
	begun := make([]bool, len(d.workers))
	for i, w := range d.workers {
		begun[i] = w.idle()
	}
	seqs, err := d.store.Enqueue(d.names, begun, key, ev)
	if err != nil {
		// Better a notification that may repeat after a restart than
		// none: deliver from memory.
		d.logStore.Do(func() {
			d.log.Error("notification outbox write failed; delivering from memory", "alert_id", ev.AlertID, "err", err)
		})
		d.m.storeErrors.Inc()
		for _, w := range d.workers {
			d.push(w, item{ev: ev, key: key})
		}
		return
	}
	for i, w := range d.workers {
		if seqs[i] == 0 {
			w.duplicate.Inc()
			continue
		}
		d.push(w, item{ev: ev, seq: seqs[i], key: key, begun: begun[i]})
	}
}

// Plan is the dispatcher's part of the alert store's joined commit
// (store.OutboxJoin): the notifiers an event is for, none for a shelved
// or planned alert's change, and which of them are idle and will send it
// as soon as it is committed (see Emit).
func (d *Dispatcher) Plan(ev alerting.Event) (notifiers []string, begun []bool, ok bool) {
	if d.store == nil || ev.Planned || ev.Shelved != "" || len(d.workers) == 0 {
		return nil, nil, false
	}
	begun = make([]bool, len(d.workers))
	for i, w := range d.workers {
		begun[i] = w.idle()
	}
	return d.names, begun, true
}

// Queued takes an event the alert store committed to the outbox with the
// change's record, as Plan asked: it is queued for its notifiers now,
// and Emit passes over it when the change reaches the dispatcher.
func (d *Dispatcher) Queued(ev alerting.Event, key string, seqs []uint64, begun []bool) {
	d.qmu.Lock()
	if len(d.queued) >= maxQueuedKeys {
		// Only if changes stopped reaching Emit: an Emit that misses
		// its key finds it in the outbox and counts a duplicate, and
		// pages nothing twice.
		clear(d.queued)
	}
	d.queued[key] = struct{}{}
	d.qmu.Unlock()
	for i, w := range d.workers {
		if i >= len(seqs) || seqs[i] == 0 {
			w.duplicate.Inc()
			continue
		}
		d.push(w, item{ev: ev, seq: seqs[i], key: key, begun: i < len(begun) && begun[i]})
	}
}

// maxQueuedKeys bounds the keys Queued keeps for Emit.
const maxQueuedKeys = 1 << 16

// takeQueued reports whether Queued took the change of key, and forgets
// it: a later copy of the change is Emit's to refuse as a duplicate.
func (d *Dispatcher) takeQueued(key string) bool {
	d.qmu.Lock()
	defer d.qmu.Unlock()
	if _, ok := d.queued[key]; !ok {
		return false
	}
	delete(d.queued, key)
	return true
}

func (d *Dispatcher) push(w *worker, it item) {
	dropped, res := w.q.push(it)
	switch res {
	case pushDroppedOldest:
		w.dropFull.Inc()
		d.finish(w, dropped)
		w.logDrop.Do(func() {
			d.log.Warn("notification queue full, dropped the oldest event", "notifier", w.n.Name())
		})
	case pushClosed:
		w.dropClosed.Inc()
		// With a store the event stays in the outbox for the next start.
	}
}

// finish takes a delivered, failed or dropped item out of the outbox.
func (d *Dispatcher) finish(w *worker, it item) {
	if d.store == nil || it.seq == 0 {
		return
	}
	if err := d.store.Done(w.n.Name(), it.seq, it.key, d.now()); err != nil {
		d.logStore.Do(func() {
			d.log.Error("notification outbox update failed; it may be sent again after a restart", "notifier", w.n.Name(), "err", err)
		})
		d.m.storeErrors.Inc()
	}
}

// Prune forgets delivered keys older than the retention; the service calls
// it now and then. Without a Store it does nothing.
func (d *Dispatcher) Prune() {
	if d.store == nil {
		return
	}
	if _, err := d.store.PruneSent(d.now().Add(-d.retention)); err != nil {
		d.log.Warn("pruning delivered notification keys", "err", err)
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
	d.finishing.Wait()
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
		w.sending.Store(true)
		it, ok, closed := w.q.pop()
		if ok {
			d.beginSend(w, it)
			if d.send(ctx, w, it.ev) || ctx.Err() == nil {
				// A send cut short by shutdown stays in the outbox, to be
				// sent after the restart; one that failed after its
				// retries went to the notifier's dead letter. Recording
				// it does not hold up the next send: a crash before the
				// commit only means one more send after the restart,
				// and concurrent records share one commit.
				d.finishing.Go(func() { d.finish(w, it) })
			}
			continue
		}
		w.sending.Store(false)
		if closed {
			return // drained
		}
		select {
		case <-w.q.wake:
		case <-ctx.Done():
		}
	}
}

// beginSend records in the outbox that a send of it begins, before any
// byte goes out, and counts a send of one the last process had begun as
// a re-send. The record is what lets a restart tell a possible second
// delivery (the at-least-once window: the receiver took it and the
// process stopped before the outbox recorded that) from a first one; it
// costs one shared commit per notification, unless Emit recorded it in
// the enqueueing commit (item.begun).
func (d *Dispatcher) beginSend(w *worker, it item) {
	if it.tried {
		w.resent.Inc()
	}
	if d.store == nil || it.seq == 0 || it.begun {
		return
	}
	if err := d.store.Tried(w.n.Name(), it.key); err != nil {
		d.logStore.Do(func() {
			d.log.Error("notification outbox update failed", "notifier", w.n.Name(), "err", err)
		})
		d.m.storeErrors.Inc()
	}
}

// send delivers one event and reports whether it succeeded.
func (d *Dispatcher) send(ctx context.Context, w *worker, ev alerting.Event) bool {
	ctx, cancel := context.WithTimeout(ctx, d.sendTimeout)
	defer cancel()
	start := time.Now()
	err := w.n.Notify(ctx, ev)
	w.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		w.failure.Inc()
		d.log.Warn("notification failed", "notifier", w.n.Name(), "alert_id", ev.AlertID, "event", ev.Type.String(), "err", err)
		return false
	}
	w.success.Inc()
	return true
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

// discard empties every queue, counting the events as dropped at shutdown;
// with a Store they stay in the outbox for the next start.
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
	sent             *prometheus.CounterVec
	dropped          *prometheus.CounterVec
	suppressed       *prometheus.CounterVec
	latency          *prometheus.HistogramVec
	queued           []prometheus.Collector
	restored         prometheus.Counter
	resent           *prometheus.CounterVec
	storeErrors      prometheus.Counter
	shelved, planned prometheus.Counter
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
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskmon_notifications_suppressed_total",
			Help: "Events not notified, by notifier and reason: duplicate (already notified or waiting under the same key; per notifier), shelved and planned (alert shelved or out of service; notifier empty).",
		}, []string{"notifier", "reason"}),
		restored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskmon_notification_outbox_restored_total",
			Help: "Notifications found waiting in the outbox at start and sent after the restart.",
		}),
		resent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskmon_notifications_resent_total",
			Help: "Notifications sent again after a restart because the last process had begun sending them and stopped before recording the result; the receiver may hold a copy, which it can drop by the idempotency key.",
		}, []string{"notifier"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskmon_notification_outbox_errors_total",
			Help: "Failed writes to the notification outbox; such events are delivered from memory.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "riskmon_notification_duration_seconds",
			Help:    "Time one notification took, retries included.",
			Buckets: []float64{.005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 120},
		}, []string{"notifier"}),
	}
}

func (m dispatchMetrics) register(reg prometheus.Registerer) error {
	for _, c := range append([]prometheus.Collector{m.sent, m.dropped, m.suppressed, m.latency, m.restored, m.resent, m.storeErrors}, m.queued...) {
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
	buf    []item
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

// item is a queued event with its place in the outbox (seq 0: none).
type item struct {
	ev  alerting.Event
	seq uint64
	key string
	// tried: restored from the outbox with a send begun by the last
	// process, so this send may be a second one.
	tried bool
	// begun: the outbox recorded the send as begun when it took the item.
	begun bool
}

func newQueue(size int) *queue {
	return &queue{buf: make([]item, size), wake: make(chan struct{}, 1)}
}

// push appends it; when the queue was full it returns the oldest item,
// which it dropped to make room.
func (q *queue) push(it item) (item, pushResult) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return item{}, pushClosed
	}
	res := pushOK
	var dropped item
	if q.n == len(q.buf) {
		dropped = q.buf[q.head]
		q.buf[q.head] = item{}
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		res = pushDroppedOldest
	}
	q.buf[(q.head+q.n)%len(q.buf)] = it
	q.n++
	q.mu.Unlock()
	q.signal()
	return dropped, res
}

// pop takes the oldest event. When there is none, closed says whether any
// can still come.
func (q *queue) pop() (it item, ok, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return item{}, false, q.closed
	}
	it = q.buf[q.head]
	q.buf[q.head] = item{} // let the strings go
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return it, true, q.closed
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
