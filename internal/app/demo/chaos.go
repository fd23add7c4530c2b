package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskmon/riskmon/cluster"
	"github.com/riskmon/riskmon/internal/natsproc"
)

// runChaos is the --chaos script. Half-way up the leak's ramp, with its
// alarm raised, it kills the riskmon instance that owns the leaking
// site with SIGKILL, measures how long its partitions take to have new
// owners, and starts it again on its state folder. At 55 % of the run it
// kills a NATS node with SIGKILL (the stream's leader, unless that is
// the node the gateways publish to) and restarts it. An interrupt ends
// the script quietly; the demo then stops everything.
func (c *clusterDemo) runChaos(ctx context.Context) error {
	d := c.o.Duration
	if c.sleepUntil(ctx, c.leak.Start+c.leak.RampUp/2) != nil {
		return nil
	}
	// The kill should find the leak's alarm open, so the summary shows
	// what becomes of it; it waits for its first page up to the ramp's
	// top.
	for !c.leakOpen() && time.Since(c.runStart) < c.leak.Start+c.leak.RampUp {
		if sleepCtx(ctx, 100*time.Millisecond) != nil {
			return nil
		}
	}
	if err := c.killOwner(ctx, max(d/9, 5*time.Second)); err != nil {
		return ignoreCancel(ctx, err)
	}
	if c.sleepUntil(ctx, d*55/100) != nil {
		return nil
	}
	return ignoreCancel(ctx, c.killNode(ctx, max(d/12, 5*time.Second)))
}

// killOwner kills the owner of the leaking site, waits for its
// partitions to move and restarts it down after it was killed.
func (c *clusterDemo) killOwner(ctx context.Context, down time.Duration) error {
	p := cluster.PartitionOf(c.leak.Site, clusterPartitions)
	// A busy machine may leave one lease read unanswered: try for a while.
	var owners map[int]string
	var err error
	for range 20 {
		if owners, err = c.owners(ctx); err == nil {
			break
		}
		if sleepCtx(ctx, 250*time.Millisecond) != nil {
			return ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	var victim *instance
	for _, in := range c.insts {
		if in.id == owners[p] {
			victim = in
		}
	}
	if victim == nil {
		return fmt.Errorf("partition %d of %s has no owner to kill (%s)", p, c.leak.Site, ownersLine(c.perInstance(ctx)))
	}
	var theirs []int
	for q := range clusterPartitions {
		if owners[q] == victim.id {
			theirs = append(theirs, q)
		}
	}
	pid := victim.pid()
	victim.kill()
	killed := time.Now()
	c.event("SIGKILL riskmon %s (pid %d): it owns %s's partition %d (its partitions %v); the leak's alarm is %s",
		victim.id, pid, c.leak.Site, p, theirs, c.leakLevel())
	for {
		now, err := c.owners(ctx)
		moved := err == nil
		for _, q := range theirs {
			if o := now[q]; o == "" || o == victim.id {
				moved = false
			}
		}
		if moved {
			c.chaos.takeover = time.Since(killed)
			c.event("partitions %v owned again %v after the kill: %s", theirs, c.chaos.takeover.Round(10*time.Millisecond), ownersLine(c.perInstance(ctx)))
			break
		}
		if time.Since(killed) > 30*time.Second {
			c.event("partitions %v still without a new owner 30 s after the kill", theirs)
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := sleepCtx(ctx, time.Until(killed.Add(down))); err != nil {
		return err
	}
	if err := victim.start(ctx, 60*time.Second); err != nil {
		return err
	}
	c.event("riskmon %s started again (pid %d) on its state folder", victim.id, victim.pid())
	return nil
}

// killNode kills a NATS node and restarts it down later.
func (c *clusterDemo) killNode(ctx context.Context, down time.Duration) error {
	nd, role := c.nodeToKill(ctx)
	pid := nd.Pid()
	nd.Kill()
	c.event("SIGKILL nats-server %s (pid %d), %s", nd.Name, pid, role)
	if err := sleepCtx(ctx, down); err != nil {
		return err
	}
	if err := nd.Start(); err != nil {
		return err
	}
	c.event("nats-server %s started again (pid %d)", nd.Name, nd.Pid())
	return nil
}

// nodeToKill is the stream's leader unless the gateways publish to it
// (their simulator knows one URL; real gateways list several), else the
// second node.
func (c *clusterDemo) nodeToKill(ctx context.Context) (*natsproc.Node, string) {
	gateways := c.nats.Nodes[0]
	js, err := jetstream.New(c.nc)
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var s jetstream.Stream
		if s, err = js.Stream(sctx, cluster.DefaultStream); err == nil {
			if cl := s.CachedInfo().Cluster; cl != nil && cl.Leader != gateways.Name {
				for _, nd := range c.nats.Nodes {
					if nd.Name == cl.Leader {
						return nd, "the leader of stream " + cluster.DefaultStream
					}
				}
			}
		}
	}
	return c.nats.Nodes[1], "a replica of stream " + cluster.DefaultStream
}

// leakLevel is the leaking sensor's alarm as its last page left it.
func (c *clusterDemo) leakLevel() string {
	last := "not raised yet"
	for _, p := range c.sink.received() {
		if p.Site == c.leak.Site && p.Sensor == c.leak.Sensor {
			last = "open at " + p.Level.String() + " (" + p.Rule + ", " + p.Type + ")"
			if p.Type == "resolved" {
				last = "resolved"
			}
		}
	}
	return last
}

func (c *clusterDemo) leakOpen() bool { return strings.HasPrefix(c.leakLevel(), "open") }

// sleepUntil waits until offset after the run's start.
func (c *clusterDemo) sleepUntil(ctx context.Context, offset time.Duration) error {
	return sleepCtx(ctx, time.Until(c.runStart.Add(offset)))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ignoreCancel drops err once ctx has ended: an interrupted script is
// not a failed one.
func ignoreCancel(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
