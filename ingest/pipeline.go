package ingest

import (
	"context"
	"errors"
	"fmt"
)

// Pipeline runs the collector, the spool and the forwarder together and
// stops them in the order that loses nothing: stop taking messages, drain
// the workers into the spool, commit the spool (which acknowledges those
// messages), disconnect, then give the forwarder its shutdown grace to
// write what it can; the rest waits in the spool for the next start.
type Pipeline struct {
	// Collector takes messages from the MQTT broker, unless Source is
	// set.
	Collector *Collector
	// Source, when set, is where messages come from instead: a Feed of
	// the cluster's partitions.
	Source    Source
	Spool     *Spool
	Forwarder *Forwarder
}

// Input is where messages come from: Source, or else Collector.
func (p *Pipeline) Input() Source {
	if p.Source != nil {
		return p.Source
	}
	return p.Collector
}

// Run blocks until ctx ends and everything has stopped.
func (p *Pipeline) Run(ctx context.Context) error {
	in := p.Input()
	spoolCtx, stopSpool := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSpool()
	fwdCtx, stopFwd := context.WithCancel(context.WithoutCancel(ctx))
	defer stopFwd()

	spoolDone := make(chan error, 1)
	go func() { spoolDone <- p.Spool.Run(spoolCtx) }()
	fwdDone := make(chan error, 1)
	go func() { fwdDone <- p.Forwarder.Run(fwdCtx) }()

	var errs []error
	cctx, stopCollector := context.WithCancel(ctx)
	defer stopCollector()
	collectorDone := make(chan error, 1)
	go func() { collectorDone <- in.Run(cctx) }()
	var spoolErr error
	spoolStopped := false
	select {
	case err := <-collectorDone:
		errs = append(errs, err)
	case spoolErr = <-spoolDone:
		// The spool failed (a write or fsync error): nothing more can be
		// acknowledged safely, so stop taking messages.
		spoolStopped = true
		stopCollector()
		errs = append(errs, <-collectorDone)
	}
	stopSpool()
	if !spoolStopped {
		spoolErr = <-spoolDone
	}
	if spoolErr != nil {
		errs = append(errs, fmt.Errorf("spool: %w", spoolErr))
	}
	in.Disconnect()
	stopFwd()
	errs = append(errs, <-fwdDone)
	errs = append(errs, p.Spool.Close())
	return errors.Join(errs...)
}
