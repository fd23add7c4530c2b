package ingest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"
	"unicode/utf8"
)

// DeadLetterEntry is one parked message or reading.
type DeadLetterEntry struct {
	Time   time.Time `json:"time"`
	Topic  string    `json:"topic"`
	Reason Reason    `json:"reason"`
	Detail string    `json:"detail"`
	// Sensor is set when a single reading was rejected.
	Sensor string `json:"sensor,omitempty"`
	// Payload is the message as received, when it is UTF-8; otherwise
	// PayloadBase64 holds it. Long payloads are cut at the store's limit.
	Payload       string `json:"payload,omitempty"`
	PayloadBase64 string `json:"payload_base64,omitempty"`
	Truncated     bool   `json:"truncated,omitempty"`
}

// DeadLetterOptions configure a dead-letter store.
type DeadLetterOptions struct {
	// Path of the JSON-lines file; empty keeps entries in memory only.
	Path string
	// MaxBytes rotates the file to Path+".1" once it grows past this.
	MaxBytes int64
	// Recent is how many entries are kept in memory for the HTTP view.
	Recent int
	// MaxPayload cuts stored payloads to this many bytes.
	MaxPayload int
}

// DeadLetter parks rejected input where an engineer can read it: a
// JSON-lines file (one entry a line, rotated by size) and a ring of the
// most recent entries served over HTTP.
type DeadLetter struct {
	opts  DeadLetterOptions
	mu    sync.Mutex
	f     *os.File
	size  int64
	ring  []DeadLetterEntry
	next  int
	total int64
}

// OpenDeadLetter opens (appending) or creates the store's file.
func OpenDeadLetter(o DeadLetterOptions) (*DeadLetter, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 64 << 20
	}
	if o.Recent <= 0 {
		o.Recent = 200
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = 16 << 10
	}
	d := &DeadLetter{opts: o, ring: make([]DeadLetterEntry, 0, o.Recent)}
	if o.Path != "" {
		if err := d.open(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *DeadLetter) open() error {
	f, err := os.OpenFile(d.opts.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("dead-letter file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("dead-letter file: %w", err)
	}
	d.f, d.size = f, st.Size()
	return nil
}

// Add parks an entry, attaching payload.
func (d *DeadLetter) Add(e DeadLetterEntry, payload []byte) error {
	if len(payload) > d.opts.MaxPayload {
		payload, e.Truncated = payload[:d.opts.MaxPayload], true
	}
	if utf8.Valid(payload) {
		e.Payload = string(payload)
	} else {
		e.PayloadBase64 = base64.StdEncoding.EncodeToString(payload)
	}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("dead-letter entry: %w", err)
	}
	line = append(line, '\n')

	d.mu.Lock()
	defer d.mu.Unlock()
	d.total++
	if len(d.ring) < cap(d.ring) {
		d.ring = append(d.ring, e)
	} else {
		d.ring[d.next] = e
		d.next = (d.next + 1) % len(d.ring)
	}
	if d.f == nil {
		return nil
	}
	if d.size+int64(len(line)) > d.opts.MaxBytes && d.size > 0 {
		if err := d.rotate(); err != nil {
			return err
		}
	}
	n, err := d.f.Write(line)
	d.size += int64(n)
	if err != nil {
		return fmt.Errorf("dead-letter write: %w", err)
	}
	return nil
}

func (d *DeadLetter) rotate() error {
	if err := d.f.Close(); err != nil {
		return fmt.Errorf("dead-letter rotate: %w", err)
	}
	if err := os.Rename(d.opts.Path, d.opts.Path+".1"); err != nil {
		return fmt.Errorf("dead-letter rotate: %w", err)
	}
	return d.open()
}

// Recent returns the newest entries, oldest first.
func (d *DeadLetter) Recent() []DeadLetterEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]DeadLetterEntry, 0, len(d.ring))
	out = append(out, d.ring[d.next:]...)
	return append(out, d.ring[:d.next]...)
}

// Total is the number of entries parked since the store was opened.
func (d *DeadLetter) Total() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.total
}

// ServeHTTP lists the recent entries as JSON.
func (d *DeadLetter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(struct {
		Total  int64             `json:"total"`
		File   string            `json:"file,omitempty"`
		Recent []DeadLetterEntry `json:"recent"`
	}{d.Total(), d.opts.Path, d.Recent()})
}

// Close closes the file.
func (d *DeadLetter) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}
