package ingest

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v5"
	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"
)

// LineWriter sends a block of line protocol to the database. Influx (the
// influxdb-client-go blocking write API) satisfies it.
type LineWriter interface {
	WriteLines(ctx context.Context, lines string) error
}

// WriterOptions tune batching and retries of the forwarder.
type WriterOptions struct {
	// BatchSize is the most readings one write request carries.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is how long a batch waits to fill once it has its
	// first reading.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// RetryMin and RetryMax bound the backoff between retries.
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// ShutdownTimeout bounds the writes made after shutdown begins; what
	// is still in the spool then is written at the next start.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

func (o WriterOptions) withDefaults() WriterOptions {
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 100 * time.Millisecond
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

// Forwarder reads the spool in order and writes it to InfluxDB, retrying
// with backoff until each batch is stored; only then does the spool's
// cursor move. riskmon owns the retries rather than the client's async
// API, which drops data after its retry window.
type Forwarder struct {
	sp   *Spool
	lw   LineWriter
	opts WriterOptions
	m    *Metrics
	log  *slog.Logger
}

// NewForwarder returns a forwarder from sp to lw.
func NewForwarder(sp *Spool, lw LineWriter, opts WriterOptions, m *Metrics, log *slog.Logger) *Forwarder {
	return &Forwarder{sp: sp, lw: lw, opts: opts.withDefaults(), m: m, log: log}
}

// Run forwards until ctx ends, then keeps writing what the spool holds for
// at most ShutdownTimeout.
func (f *Forwarder) Run(ctx context.Context) error {
	// Writes outlive ctx by the shutdown grace period.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := make(chan struct{})
	go func() {
		<-ctx.Done()
		t := time.NewTimer(f.opts.ShutdownTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
			close(stop)
		case <-wctx.Done():
		}
	}()
	var b SpoolBatch
	for {
		draining := ctx.Err() != nil
		if draining && f.sp.CaughtUp() {
			return nil
		}
		nextStop := (<-chan struct{})(stop)
		if !draining {
			nextStop = ctx.Done()
		}
		ok, err := f.sp.Next(nextStop, f.opts.BatchSize, f.opts.FlushInterval, &b)
		if err != nil {
			return err
		}
		if !ok {
			if ctx.Err() != nil && wctx.Err() == nil {
				continue // shutdown began: drain what is there
			}
			return nil
		}
		if err := f.write(wctx, &b); err != nil {
			_, readings, _ := f.sp.Backlog()
			f.log.Warn("shutdown deadline passed; unwritten readings stay in the spool for the next start",
				"readings", readings, "writer.shutdown_timeout", f.opts.ShutdownTimeout)
			return nil
		}
		if err := f.sp.Consumed(&b); err != nil {
			return err
		}
	}
}

// write retries until the batch is stored, refused for good, or ctx ends.
func (f *Forwarder) write(ctx context.Context, b *SpoolBatch) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = f.opts.RetryMin
	bo.MaxInterval = f.opts.RetryMax
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := f.lw.WriteLines(ctx, string(b.Lines))
		f.m.WriteDuration.Observe(time.Since(start).Seconds())
		if err == nil {
			f.m.Written.Add(float64(b.Readings))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		class, wait := classifyWriteError(err)
		f.m.WriteErrors.WithLabelValues(class).Inc()
		if class == "permanent" {
			// The database refused the data itself (a 400 for a field
			// type conflict, say): retrying cannot help, and InfluxDB
			// has stored the points it could. Count them as rejected.
			f.m.Rejected(ReasonDBRejected).Add(float64(b.Readings))
			f.log.Error("InfluxDB refused a batch; its readings are counted as rejected", "readings", b.Readings, "err", err)
			return nil
		}
		if wait <= 0 {
			wait = bo.NextBackOff()
		}
		if attempt == 1 || attempt%10 == 0 {
			f.log.Warn("InfluxDB write failed; retrying (readings are safe in the spool)", "attempt", attempt, "readings", b.Readings, "retry_in", wait, "err", err)
		}
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
