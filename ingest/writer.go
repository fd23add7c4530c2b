package ingest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/riskmon/riskmon/storage"
)

// LineWriter sends a block of line protocol to the database. lines is
// reused once the call returns. storage.Client satisfies it;
// storage.WriteFailure classifies its errors.
type LineWriter interface {
	WriteLineBytes(ctx context.Context, lines []byte) error
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
	// Concurrency is how many requests a batch is split into, sent at
	// once. Each carries whole series (all lines of a series go to the
	// same request), and a batch is stored whole before the next is
	// sent, so every series is written in spool order. InfluxDB parses
	// and indexes each request on its own goroutine; one request at a
	// time leaves the other cores idle while riskmon waits. Default 1:
	// on a 2-core machine shared with other work, 2 requests of half the
	// size stored no more per second and cost InfluxDB about 12 % more
	// CPU per point (docs/benchmarks.md); raise it where InfluxDB has
	// cores to spare and the writer lags (riskmon_spool_readings grows).
	Concurrency int `yaml:"concurrency"`
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
	if o.Concurrency <= 0 {
		o.Concurrency = 1
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
	// lanes hold a batch's lines split by series, reused batch to batch.
	lanes [][]byte
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

// write stores a batch: split by series into up to Concurrency requests
// sent at once, each retried until stored or refused for good. It returns
// only once every part is done, or ctx ends.
func (f *Forwarder) write(ctx context.Context, b *SpoolBatch) error {
	if f.opts.Concurrency <= 1 {
		rejected, err := f.writeLines(ctx, b.Lines, b.Readings)
		if err == nil {
			f.m.Written.Add(float64(b.Readings - rejected))
		}
		return err
	}
	f.lanes = splitBySeries(b.Lines, f.lanes, f.opts.Concurrency)
	rejected := make([]int, len(f.lanes))
	errs := make([]error, len(f.lanes))
	var wg sync.WaitGroup
	for i, lane := range f.lanes {
		if len(lane) == 0 {
			continue
		}
		wg.Go(func() { rejected[i], errs[i] = f.writeLines(ctx, lane, -1) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	n := b.Readings
	for _, r := range rejected {
		n -= r
	}
	f.m.Written.Add(float64(n))
	return nil
}

// writeLines retries until lines are stored, refused for good (then it
// returns how many readings were refused), or ctx ends. readings is the
// number of readings in lines, or -1 to count the reading lines when the
// database refuses them.
func (f *Forwarder) writeLines(ctx context.Context, lines []byte, readings int) (rejected int, err error) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = f.opts.RetryMin
	bo.MaxInterval = f.opts.RetryMax
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := f.lw.WriteLineBytes(ctx, lines)
		f.m.WriteDuration.Observe(time.Since(start).Seconds())
		if err == nil {
			return 0, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		class, wait := classifyWriteError(err)
		f.m.WriteErrors.WithLabelValues(class).Inc()
		if class == "permanent" {
			// The database refused the data itself (a 400 for a field
			// type conflict, say): retrying cannot help, and InfluxDB
			// has stored the points it could. Count them as rejected.
			if readings < 0 {
				readings = countReadingLines(lines)
			}
			f.m.Rejected(ReasonDBRejected).Add(float64(readings))
			f.log.Error("InfluxDB refused a batch; its readings are counted as rejected", "readings", readings, "err", err)
			return readings, nil
		}
		if wait <= 0 {
			wait = bo.NextBackOff()
		}
		if attempt == 1 || attempt%10 == 0 {
			f.log.Warn("InfluxDB write failed; retrying (readings are safe in the spool)", "attempt", attempt, "bytes", len(lines), "retry_in", wait, "err", err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// splitBySeries deals the lines of a batch into n lanes by a hash of
// their series key (measurement and tags), so each series' lines stay
// together and in order. The lanes are reused.
func splitBySeries(lines []byte, lanes [][]byte, n int) [][]byte {
	if len(lanes) != n {
		lanes = make([][]byte, n)
	}
	for i := range lanes {
		lanes[i] = lanes[i][:0]
	}
	for len(lines) > 0 {
		end := bytes.IndexByte(lines, '\n') + 1
		if end == 0 {
			end = len(lines)
		}
		line := lines[:end]
		lines = lines[end:]
		// The series key ends at the first space not escaped.
		h := uint32(2166136261)
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c == '\\' && i+1 < len(line) {
				h = (h ^ uint32(c)) * 16777619
				i++
				c = line[i]
			} else if c == ' ' {
				break
			}
			h = (h ^ uint32(c)) * 16777619
		}
		k := h % uint32(n)
		lanes[k] = append(lanes[k], line...)
	}
	return lanes
}

// countReadingLines counts the lines of the reading measurement (the
// spool also carries alert events, which are not readings).
func countReadingLines(lines []byte) int {
	n := 0
	for len(lines) > 0 {
		if bytes.HasPrefix(lines, []byte(storage.MeasurementReading+",")) {
			n++
		}
		end := bytes.IndexByte(lines, '\n')
		if end < 0 {
			break
		}
		lines = lines[end+1:]
	}
	return n
}

// classifyWriteError names, for the write error metric, whether a failed
// write may succeed later, and how long the server asked to wait.
func classifyWriteError(err error) (class string, wait time.Duration) {
	refused, wait := storage.WriteFailure(err)
	if refused {
		return "permanent", 0
	}
	return "retryable", wait
}
