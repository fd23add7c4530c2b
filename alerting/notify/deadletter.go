package notify

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/riskmon/riskmon/alerting"
)

// DeadLetterEntry is one line of a dead-letter file.
type DeadLetterEntry struct {
	Time     time.Time      `json:"time"`
	Notifier string         `json:"notifier"`
	Event    alerting.Event `json:"event"`
	Error    string         `json:"error"`
}

// deadLetter appends entries to a JSON-lines file. It opens the file per
// entry: dead letters are rare, and a file that an operator moved away or
// truncated is then simply created again.
type deadLetter struct {
	path string
	mu   sync.Mutex // serialises writers, so lines never interleave
}

func (d *deadLetter) write(now time.Time, notifier string, ev alerting.Event, cause error) error {
	line, err := json.Marshal(DeadLetterEntry{Time: now.UTC(), Notifier: notifier, Event: ev, Error: cause.Error()})
	if err != nil {
		return fmt.Errorf("dead letter: encode: %w", err)
	}
	line = append(line, '\n')
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(d.path), 0o755); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("dead letter: %w", err)
	}
	// Sync, since the entry is the only trace of a lost alert.
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("dead letter: %w", err)
	}
	return f.Close()
}
