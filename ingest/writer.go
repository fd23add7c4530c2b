package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/riskmon/riskmon/sensors"
)

// LineWriter sends a block of line protocol to the database. The
// influxdb-client-go blocking write API satisfies it through InfluxLines.
type LineWriter interface {
	WriteLines(ctx context.Context, lines string) error
}

// WriterOptions tune batching and retries.
type WriterOptions struct {
	// BatchSize flushes a batch once it holds this many readings.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval flushes a non-empty batch at least this often.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// MaxPending is how many accepted readings may wait for InfluxDB
	// before Add blocks (backpressure on the MQTT workers, and through
	// withheld acks on the broker).
	MaxPending int `yaml:"max_pending"`
	// Concurrency is the number of write requests in flight.
	Concurrency int `yaml:"concurrency"`
	// RetryMin and RetryMax bound the backoff between retries.
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// ShutdownTimeout bounds the final flush.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

func (o WriterOptions) withDefaults() WriterOptions {
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 100 * time.Millisecond
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 500_000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 2
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 100 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 10 * time.Second
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	return o
}

type batch struct {
	buf   []byte
	n     int
	dones []func()
}

// Writer batches readings by size and by time into line protocol and
// writes them, retrying with backoff until they are stored. Each Add
// carries a done callback, called once its readings are in the database
// (or were refused by it for good): the collector acknowledges the MQTT
// message there, so nothing is acknowledged before it is stored.
type Writer struct {
	lw   LineWriter
	opts WriterOptions
	m    *Metrics
	log  *slog.Logger

	mu      sync.Mutex
	cond    *sync.Cond
	cur     *batch
	queue   []*batch
	pending int
	closed  bool
	free    sync.Pool
}

// NewWriter returns a writer; call Run to start flushing.
func NewWriter(lw LineWriter, opts WriterOptions, m *Metrics, log *slog.Logger) *Writer {
	w := &Writer{lw: lw, opts: opts.withDefaults(), m: m, log: log}
	w.cond = sync.NewCond(&w.mu)
	w.cur = w.newBatch()
	return w
}

func (w *Writer) newBatch() *batch {
	if b, ok := w.free.Get().(*batch); ok {
		return b
	}
	return &batch{buf: make([]byte, 0, w.opts.BatchSize*120)}
}

// Add queues readings; done is called once they are stored. It blocks
// while MaxPending readings are waiting, and returns an error only after
// Run has stopped.
func (w *Writer) Add(rs []sensors.Reading, done func()) error {
	if len(rs) == 0 {
		if done != nil {
			done()
		}
		return nil
	}
	w.mu.Lock()
	for w.pending >= w.opts.MaxPending && !w.closed {
		w.cond.Wait()
	}
	if w.closed {
		w.mu.Unlock()
		return errors.New("writer is stopped")
	}
	b := w.cur
	for i := range rs {
		b.buf = appendLine(b.buf, &rs[i])
	}
	b.n += len(rs)
	if done != nil {
		b.dones = append(b.dones, done)
	}
	w.pending += len(rs)
	w.m.Pending.Set(float64(w.pending))
	if b.n >= w.opts.BatchSize {
		w.sealLocked()
	}
	w.mu.Unlock()
	return nil
}

// sealLocked moves the current batch to the write queue.
func (w *Writer) sealLocked() {
	if w.cur.n == 0 {
		return
	}
	w.queue = append(w.queue, w.cur)
	w.cur = w.newBatch()
	w.cond.Broadcast()
}

// Pending is the number of readings accepted but not yet stored.
func (w *Writer) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending
}

// Run flushes until ctx is cancelled, then writes what is left within
// ShutdownTimeout. Readings still unwritten then are not acknowledged, so
// the broker redelivers them to the next session.
func (w *Writer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	// Writes keep going after ctx ends, until the shutdown deadline.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	for range w.opts.Concurrency {
		wg.Go(func() { w.flushLoop(wctx) })
	}
	t := time.NewTicker(w.opts.FlushInterval)
	defer t.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-t.C:
			w.mu.Lock()
			w.sealLocked()
			w.mu.Unlock()
		}
	}
	w.mu.Lock()
	w.sealLocked()
	w.closed = true
	w.cond.Broadcast()
	w.mu.Unlock()

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	timer := time.NewTimer(w.opts.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-timer.C:
		cancel()
		<-done
		left := w.Pending()
		w.log.Error("shutdown deadline passed with readings unwritten; they stay unacknowledged for redelivery",
			"readings", left, "writer.shutdown_timeout", w.opts.ShutdownTimeout)
		return fmt.Errorf("writer: %d readings unwritten at shutdown", left)
	}
}

func (w *Writer) flushLoop(ctx context.Context) {
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.closed {
			w.cond.Wait()
		}
		if len(w.queue) == 0 {
			w.mu.Unlock()
			return
		}
		b := w.queue[0]
		w.queue[0] = nil
		w.queue = w.queue[1:]
		w.mu.Unlock()

		if err := w.writeBatch(ctx, b); err != nil {
			// Only a cancelled shutdown gets here: leave the readings
			// unacknowledged.
			return
		}
		w.mu.Lock()
		w.pending -= b.n
		w.m.Pending.Set(float64(w.pending))
		w.cond.Broadcast()
		w.mu.Unlock()
		for _, d := range b.dones {
			d()
		}
		b.buf, b.n, b.dones = b.buf[:0], 0, b.dones[:0]
		w.free.Put(b)
	}
}

// writeBatch retries until the batch is stored, refused for good, or ctx
// ends.
func (w *Writer) writeBatch(ctx context.Context, b *batch) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = w.opts.RetryMin
	bo.MaxInterval = w.opts.RetryMax
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := w.lw.WriteLines(ctx, string(b.buf))
		w.m.WriteDuration.Observe(time.Since(start).Seconds())
		if err == nil {
			w.m.Written.Add(float64(b.n))
			return nil
		}
		class, wait := classifyWriteError(err)
		w.m.WriteErrors.WithLabelValues(class).Inc()
		if class == "permanent" {
			// The database refused the data itself (a 400 for a field
			// type conflict, say): retrying cannot help, and InfluxDB
			// has stored the points it could. Count them as rejected.
			w.m.Rejected(ReasonDBRejected).Add(float64(b.n))
			w.log.Error("InfluxDB refused a batch; its readings are counted as rejected", "readings", b.n, "err", err)
			return nil
		}
		if wait <= 0 {
			wait = bo.NextBackOff()
		}
		w.log.Warn("InfluxDB write failed; retrying", "attempt", attempt, "readings", b.n, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// classifyWriteError decides whether a failed write may succeed later.
// 400 and 422 mean the payload itself is refused; 401/403/404 are
// configuration problems an operator can fix, so the data is kept and
// retried; 429 and 503 carry Retry-After.
func classifyWriteError(err error) (class string, wait time.Duration) {
	var he *influxhttp.Error
	if !errors.As(err, &he) {
		return "retryable", 0
	}
	switch he.StatusCode {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return "permanent", 0
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if he.RetryAfter > 0 {
			return "retryable", min(time.Duration(he.RetryAfter)*time.Second, time.Minute)
		}
	}
	return "retryable", 0
}
