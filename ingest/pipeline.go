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
	Collector *Collector
	Spool     *Spool
	Forwarder *Forwarder
}

// Run blocks until ctx ends and everything has stopped.
func (p *Pipeline) Run(ctx context.Context) error {
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
	go func() { collectorDone <- p.Collector.Run(cctx) }()
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
	p.Collector.Disconnect()
	stopFwd()
	errs = append(errs, <-fwdDone)
	errs = append(errs, p.Spool.Close())
	return errors.Join(errs...)
}
