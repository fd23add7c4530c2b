package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riskmon/riskmon/simulator"
)

// play publishes the fleet to the first NATS node's MQTT listener for
// o.Duration (or until ctx ends, without a summary), runs the chaos
// script alongside, then counts and prints the summary.
func (c *clusterDemo) play(ctx context.Context) error {
	c.runStart = time.Now().Truncate(time.Millisecond)
	opts := simulator.Options{
		Broker: c.nats.Nodes[0].MQTTURL(), Fleet: c.fleet, Incidents: []simulator.GasLeak{c.leak},
		Interval: c.o.Interval, Seed: 1, Start: c.runStart, Logger: quiet(c.log).With("component", "simulator"),
		PlannedStop: true, PublishTimeout: time.Minute,
	}
	limit := c.o.Duration
	if c.o.Rate > 0 {
		opts = c.loadOptions(opts)
		// The load ends at its count; this only bounds a machine that
		// cannot keep up.
		limit = 3*c.o.Duration + time.Minute
	}
	c.countFrom = opts.Start
	pub, err := simulator.NewPublisher(opts)
	if err != nil {
		return err
	}
	simCtx, stopSim := context.WithCancel(context.WithoutCancel(ctx))
	if limit > 0 {
		simCtx, stopSim = context.WithTimeout(context.WithoutCancel(ctx), limit)
	}
	defer stopSim()
	if c.o.Rate > 0 {
		c.cpuStart = c.sampleCPU()
	}
	simDone := make(chan simResult, 1)
	go func() {
		st, err := pub.Run(simCtx)
		simDone <- simResult{st, err}
	}()
	chaosCtx, stopChaos := context.WithCancel(ctx)
	defer stopChaos()
	chaosDone := make(chan error, 1)
	if c.o.Chaos {
		go func() { chaosDone <- c.runChaos(chaosCtx) }()
	} else {
		chaosDone <- nil
	}

	res, interrupted := c.watch(ctx, simDone)
	if interrupted {
		stopSim()
		stopChaos()
		<-chaosDone
		<-simDone
		fmt.Fprintln(c.out, "stopped before the end: no summary")
		return nil
	}
	if err := <-chaosDone; err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	if res.err != nil && !errors.Is(res.err, context.Canceled) && !errors.Is(res.err, context.DeadlineExceeded) {
		return fmt.Errorf("simulator: %w", res.err)
	}
	if c.o.Duration == 0 {
		return nil
	}
	return c.finish(ctx, res.st)
}

// watch prints a status line every o.StatusEvery until the simulator
// ends, or reports an interrupt.
func (c *clusterDemo) watch(ctx context.Context, simDone <-chan simResult) (simResult, bool) {
	ticker := time.NewTicker(c.o.StatusEvery)
	defer ticker.Stop()
	for {
		select {
		case res := <-simDone:
			return res, false
		case <-ctx.Done():
			return simResult{}, true
		case now := <-ticker.C:
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			n, err := c.stored(sctx)
			per, perr := c.perInstance(sctx)
			cancel()
			stored := fmt.Sprint(n)
			if err != nil {
				stored = "?"
			}
			fmt.Fprintf(c.out, "%s  +%-4s stored %8s | partitions %s | pages %d\n", now.Format("15:04:05"),
				now.Sub(c.runStart).Round(time.Second), stored, ownersLine(per, perr), len(c.sink.received()))
		}
	}
}

// finish waits until InfluxDB holds every published reading (or stops
// gaining), stops the instances so their last pages go out, prints the
// summary and fails on a loss or a duplicate page.
func (c *clusterDemo) finish(ctx context.Context, st simulator.Stats) error {
	n, cerr := c.waitStored(ctx, st.Readings)
	var cpuEnd cpuSample
	if c.o.Rate > 0 {
		cpuEnd = c.sampleCPU()
	}
	c.stopInstances()
	t := tally(c.sink.received())
	lost := st.Readings - n
	fmt.Fprintf(c.out, `
summary after %s: %s on a 3-node NATS cluster%s
  readings published   %d (in %d messages, %d publish retries)
  readings stored      %d (counted in InfluxDB)
  lost                 %d
  alerts raised        %d
  pages at the webhook %d (plus %d resent with the same idempotency key, which a receiver drops)
  duplicate pages      %d
`, c.o.Duration, instances(c.o.Cluster), map[bool]string{true: ", with chaos"}[c.o.Chaos], st.Readings, st.Messages, st.Failed,
		n, lost, t.Raised, t.Pages, t.Resent, t.Duplicates)
	if c.o.Chaos {
		c.chaos.print(c.out)
	}
	if c.o.Rate > 0 {
		c.printCPU(c.out, c.cpuStart, cpuEnd, n)
	}
	for _, w := range t.Why {
		fmt.Fprintln(c.out, "    duplicate:", w)
	}
	if t.Duplicates > 0 {
		fmt.Fprintln(c.out, `  The same alarm change was paged more than once: alert state and the
  notification claims should have moved with the site (docs/cluster.md,
  "Alert state").`)
	}
	var errs []error
	if cerr != nil {
		errs = append(errs, fmt.Errorf("count readings in InfluxDB: %w", cerr))
	}
	if lost != 0 || st.Unconfirmed != 0 {
		errs = append(errs, fmt.Errorf("%d published readings are not in InfluxDB (%d publishes unconfirmed)", lost, st.Unconfirmed))
	}
	if t.Duplicates > 0 {
		errs = append(errs, fmt.Errorf("%w: %d", ErrDuplicatePages, t.Duplicates))
	}
	return errors.Join(errs...)
}

// waitStored counts the run's readings in InfluxDB until there are want
// of them, the count has not moved for 30 s (2 min at most), or ctx ends.
func (c *clusterDemo) waitStored(ctx context.Context, want int64) (int64, error) {
	deadline := time.Now().Add(2 * time.Minute)
	var n, last int64
	var err error
	still := time.Now()
	for {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		got, cerr := c.stored(cctx)
		cancel()
		if err = cerr; err == nil {
			n = got
		}
		if n != last {
			last, still = n, time.Now()
		}
		if (err == nil && n >= want) || time.Now().After(deadline) || time.Since(still) > 30*time.Second {
			return n, err
		}
		// An interrupt while counting ends the wait: the summary then
		// shows what was counted so far.
		if sleepCtx(ctx, 500*time.Millisecond) != nil {
			return n, err
		}
	}
}

// chaosReport is what the chaos script did, for the summary.
type chaosReport struct {
	lines    []string
	takeover time.Duration
}

func (r *chaosReport) print(w interface{ Write([]byte) (int, error) }) {
	if r.takeover > 0 {
		fmt.Fprintf(w, "  takeover time        %v\n", r.takeover.Round(10*time.Millisecond))
	}
	fmt.Fprintln(w, "  chaos")
	for _, l := range r.lines {
		fmt.Fprintln(w, "    "+l)
	}
}

// event prints a chaos step as it happens and keeps it for the summary.
func (c *clusterDemo) event(format string, args ...any) {
	l := fmt.Sprintf("+%-6s ", time.Since(c.runStart).Round(100*time.Millisecond)) + fmt.Sprintf(format, args...)
	c.chaos.lines = append(c.chaos.lines, l)
	fmt.Fprintln(c.out, "chaos "+strings.TrimSpace(l))
}

// instances is "1 riskmon instance" or "3 riskmon instances".
func instances(n int) string {
	if n == 1 {
		return "1 riskmon instance"
	}
	return fmt.Sprintf("%d riskmon instances", n)
}
