package jskv

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// closedWatcher is a watcher whose channel is already closed, as NATS
// leaves it once the watch's context ends or its subscription goes.
type closedWatcher struct{ stopped bool }

func (w *closedWatcher) Updates() <-chan jetstream.KeyValueEntry {
	c := make(chan jetstream.KeyValueEntry)
	close(c)
	return c
}

func (w *closedWatcher) Stop() error { w.stopped = true; return nil }

// TestFollowEnds holds what follow says when the watcher's channel is
// closed: nothing when the caller's context has ended (both cases are
// ready and select may pick either), an error when it has not.
func TestFollowEnds(t *testing.T) {
	tests := []struct {
		name    string
		cancel  bool
		wantErr bool
	}{
		{"context ended", true, false},
		{"watch ended alone", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Many rounds: with both cases ready, select chooses at
			// random, and each choice must give the same answer.
			for range 200 {
				ctx, cancel := context.WithCancel(context.Background())
				if tt.cancel {
					cancel()
				}
				w := &closedWatcher{}
				err := follow(ctx, w, func(jetstream.KeyValueEntry) {})
				cancel()
				if (err != nil) != tt.wantErr {
					t.Fatalf("follow returned %v, want error %v", err, tt.wantErr)
				}
				if !w.stopped {
					t.Fatal("follow did not stop the watcher")
				}
			}
		})
	}
}
