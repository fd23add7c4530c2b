package app

import (
	"context"
	"fmt"
	"time"
)

// WaitReady polls Ready until it passes or limit is over, for whoever
// starts a service in process (the demo, tests) and must not publish to
// it before its collector has subscribed.
func (s *Service) WaitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		err := s.Ready(rctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("service not ready: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
