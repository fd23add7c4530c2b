package demo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riskmon/riskmon/internal/app"
	"github.com/riskmon/riskmon/simulator"
)

// simResult is what the simulator's run ended with.
type simResult struct {
	st  simulator.Stats
	err error
}

// window is the device-time span a timed run counts its readings in.
type window struct {
	from, to time.Time
	// before is what InfluxDB held in the span before this run published.
	before int64
}

// play runs the simulator against the ready service until the run ends,
// then stops the service and, for a timed run, prints the summary.
func (d *demo) play(ctx context.Context) error {
	// Whole milliseconds: readings carry millisecond device times, and
	// the first batch, stamped runStart, must fall inside the count.
	runStart := time.Now().Truncate(time.Millisecond)
	// The state folder is shared with earlier runs, whose readings may
	// lie in this run's window (a run started within a minute of the last
	// one, or a gateway clock ahead): what the window holds before this
	// run publishes is not this run's.
	w := window{from: runStart, to: runStart.Add(d.o.Duration + time.Hour)}
	var err error
	if w.before, err = d.svc.ReadingsStored(ctx, w.from, w.to); err != nil {
		return d.stopService(fmt.Errorf("count earlier readings: %w", err))
	}
	pub, err := simulator.NewPublisher(simulator.Options{
		Broker: d.brk.URL(), Fleet: d.fleet, Incidents: []simulator.GasLeak{d.leak}, Interval: d.o.Interval,
		Malformed: d.o.Malformed, Seed: 1, Start: runStart, Logger: d.log.With("component", "simulator"),
		// A timed run's service stays up to count what was published, and
		// must not take the end of the demo for every gateway failing.
		PlannedStop: true,
	})
	if err != nil {
		return err
	}
	// The simulator does not stop with ctx: on Ctrl-C the service stops
	// first, so the gateways signing off at the end of the demo are not
	// taken for a site losing its monitoring (a pile of gateway-offline
	// alarms restored run after run).
	simCtx, stopSim := context.WithCancel(context.WithoutCancel(ctx))
	if d.o.Duration > 0 {
		simCtx, stopSim = context.WithTimeout(context.WithoutCancel(ctx), d.o.Duration)
	}
	defer stopSim()
	simDone := make(chan simResult, 1)
	go func() {
		st, err := pub.Run(simCtx)
		simDone <- simResult{st, err}
	}()
	res, stopped, err := d.watch(ctx, simDone, stopSim)
	if stopped {
		return err
	}
	if res.err != nil && !errors.Is(res.err, context.Canceled) && !errors.Is(res.err, context.DeadlineExceeded) {
		return d.stopService(fmt.Errorf("simulator: %w", res.err))
	}
	return d.finish(ctx, res.st, w)
}

// watch prints a status line every o.StatusEvery until the simulator
// ends. An interrupt stops a timed run's simulator, which still counts
// what it published, and ends an interactive run at once: the service
// first, then the simulator; stopped then says the demo is over.
func (d *demo) watch(ctx context.Context, simDone <-chan simResult, stopSim func()) (res simResult, stopped bool, err error) {
	ticker := time.NewTicker(d.o.StatusEvery)
	defer ticker.Stop()
	var last app.Stats
	lastAt := time.Now()
	interrupted := ctx.Done()
	for {
		select {
		case res = <-simDone:
			return res, false, nil
		case <-interrupted:
			if d.o.Duration > 0 {
				// A timed run still counts what it published.
				interrupted = nil
				stopSim()
				continue
			}
			d.stopSvc()
			serr := <-d.svcDone
			stopSim()
			<-simDone
			fmt.Fprintln(d.out, "stopped")
			return simResult{}, true, serr
		case now := <-ticker.C:
			st := d.svc.Stats()
			rate := (st.Accepted - last.Accepted) / now.Sub(lastAt).Seconds()
			fmt.Fprintf(d.out, "%s  readings/s %6.0f | stored %8.0f | pending %5d | rejected %4.0f | alerts firing %d (raised %d)\n",
				now.Format("15:04:05"), rate, st.Written, st.Pending, st.Rejected, st.Firing, st.Raised)
			last, lastAt = st, now
		}
	}
}

// finish waits until riskmon has acknowledged every publish and forwarded
// it to InfluxDB, counts what InfluxDB holds for this run, stops the
// service and, for a timed run, prints the summary and fails on a loss.
func (d *demo) finish(ctx context.Context, st simulator.Stats, w window) error {
	want := float64(st.Messages + st.Malformed)
	deadline := time.Now().Add(30 * time.Second)
	for d.svc.Stats().Acked < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	// Acknowledged means safe in the spool; wait for it to reach InfluxDB.
	for d.svc.Stats().Pending > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	final := d.svc.Stats()
	countCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	all, cerr := d.svc.ReadingsStored(countCtx, w.from, w.to)
	stored := all - w.before
	d.stopSvc()
	serr := <-d.svcDone

	if d.o.Duration == 0 {
		fmt.Fprintln(d.out, "stopped")
		return errors.Join(cerr, serr)
	}
	lost := st.Readings - stored
	fmt.Fprintf(d.out, `
summary after %s
  readings published   %d (in %d messages, plus %d malformed messages)
  readings stored      %d (counted in InfluxDB)
  rejected             %.0f (dead letters: %d)
  alerts raised        %d
  lost                 %d
`, d.o.Duration, st.Readings, st.Messages, st.Malformed, stored, final.Rejected, d.svc.Stats().DeadLetters, final.Raised, lost)
	if cerr != nil {
		return cerr
	}
	if serr != nil {
		return serr
	}
	if lost != 0 || st.Unconfirmed != 0 {
		return fmt.Errorf("%d published readings are not in InfluxDB (%d publishes unconfirmed)", lost, st.Unconfirmed)
	}
	return nil
}
