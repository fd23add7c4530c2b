package ingest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/riskmon/riskmon/protocol"
	"github.com/riskmon/riskmon/protocol/sparkplug"
)

// DeadLetterEntry is one parked message: rejected whole (Reason and
// Detail), or with some of its readings rejected (Rejected lists them).
// One message gives one entry whatever number of its readings were
// rejected, so a large bad message costs one copy of its payload.
type DeadLetterEntry struct {
	Time  time.Time `json:"time"`
	Topic string    `json:"topic"`
	// Gateway is "{site}/{gateway}" (Sparkplug: "{group_id}/{edge_node_id}")
	// as the topic names them; the per-gateway cap counts by it.
	Gateway string `json:"gateway,omitempty"`
	// Reason is the message's reason when it was rejected whole, else
	// that of its first rejected reading.
	Reason Reason `json:"reason"`
	Detail string `json:"detail,omitempty"`
	// Sensor is set when the message had a single rejected reading.
	Sensor string `json:"sensor,omitempty"`
	// Rejected lists the rejected readings, in message order, at most
	// DeadLetterOptions.MaxEntries of them; RejectedMore counts the rest.
	Rejected     []RejectedReading `json:"rejected,omitempty"`
	RejectedMore int               `json:"rejected_more,omitempty"`
	// Payload is the message as received, when it is UTF-8; otherwise
	// PayloadBase64 holds it. Long payloads are cut at the store's limit.
	Payload       string `json:"payload,omitempty"`
	PayloadBase64 string `json:"payload_base64,omitempty"`
	Truncated     bool   `json:"truncated,omitempty"`
}

// RejectedReading is one rejected reading of a message.
type RejectedReading struct {
	// Index is the reading's 0-based position in the message: the
	// readings array of a JSON batch, the entries (lines that are neither
	// blank nor comments) of line protocol, the metrics of Sparkplug.
	Index  int    `json:"index"`
	Sensor string `json:"sensor,omitempty"`
	Reason Reason `json:"reason"`
	Detail string `json:"detail"`
}

// DeadLetterOptions configure a dead-letter store.
type DeadLetterOptions struct {
	// Path of the JSON-lines file; empty keeps entries in memory only.
	Path string
	// MaxBytes rotates the file once it grows past this (default 64 MiB).
	MaxBytes int64
	// MaxAge rotates the file once its first entry is this old (default
	// 24h), so a quiet day's evidence is not mixed with a month's.
	MaxAge time.Duration
	// Keep is how many rotated files are kept: Path.1 (the newest) to
	// Path.Keep (default 3).
	Keep int
	// Recent is how many entries are kept in memory for the HTTP view.
	Recent int
	// MaxPayload cuts stored payloads to this many bytes (default 16 KiB).
	MaxPayload int
	// MaxEntries caps the rejected readings listed in one entry (default
	// 100).
	MaxEntries int
	// GatewayBytes is what one gateway may write per GatewayWindow
	// (default 1 MiB per hour); past it its entries are counted, not
	// written, so one bad gateway cannot rotate away everyone else's
	// evidence.
	GatewayBytes  int64
	GatewayWindow time.Duration
}

func (o DeadLetterOptions) withDefaults() DeadLetterOptions {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 64 << 20
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 24 * time.Hour
	}
	if o.Keep <= 0 {
		o.Keep = 3
	}
	if o.Recent <= 0 {
		o.Recent = 200
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = 16 << 10
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 100
	}
	if o.GatewayBytes <= 0 {
		o.GatewayBytes = 1 << 20
	}
	if o.GatewayWindow <= 0 {
		o.GatewayWindow = time.Hour
	}
	return o
}

// maxCapGateways bounds the per-gateway budget table; gateway names come
// from topics.
const maxCapGateways = 10_000

// gatewayBudget is what one gateway wrote in its present window.
type gatewayBudget struct {
	start   time.Time
	written int64
	dropped int64 // entries not written in this window
}

// DeadLetter parks rejected input where an engineer can read it: a
// JSON-lines file (one entry a line, rotated by size and age) and a ring
// of the most recent entries served over HTTP.
type DeadLetter struct {
	opts    DeadLetterOptions
	mu      sync.Mutex
	f       *os.File
	size    int64
	since   time.Time // time of the current file's first entry
	ring    []DeadLetterEntry
	next    int
	total   int64
	dropped int64
	budgets map[string]*gatewayBudget
}

// OpenDeadLetter opens (appending) or creates the store's file.
func OpenDeadLetter(o DeadLetterOptions) (*DeadLetter, error) {
	o = o.withDefaults()
	d := &DeadLetter{opts: o, ring: make([]DeadLetterEntry, 0, o.Recent), budgets: map[string]*gatewayBudget{}}
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
	d.f, d.size, d.since = f, st.Size(), time.Time{}
	if st.Size() > 0 {
		// The file's first entry is at least as old as its last write.
		d.since = st.ModTime()
	}
	return nil
}

// GatewayOf is the gateway a topic names, "{site}/{gateway}", or "" for
// a topic of no gateway.
func GatewayOf(topic string) string {
	if t, err := sparkplug.ParseTopic(topic); err == nil {
		if t.Type == sparkplug.STATE {
			return ""
		}
		return t.Group + "/" + t.Edge
	}
	if t, err := protocol.ParseTopic(topic); err == nil {
		return t.Site + "/" + t.Gateway
	}
	return ""
}

// Add parks an entry, attaching payload. Entries of a gateway past its
// budget are counted and not kept.
func (d *DeadLetter) Add(e DeadLetterEntry, payload []byte) error {
	if len(payload) > d.opts.MaxPayload {
		payload, e.Truncated = payload[:d.opts.MaxPayload], true
	}
	if utf8.Valid(payload) {
		e.Payload = string(payload)
	} else {
		e.PayloadBase64 = base64.StdEncoding.EncodeToString(payload)
	}
	if len(e.Rejected) > d.opts.MaxEntries {
		e.RejectedMore += len(e.Rejected) - d.opts.MaxEntries
		e.Rejected = e.Rejected[:d.opts.MaxEntries]
	}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("dead-letter entry: %w", err)
	}
	line = append(line, '\n')

	d.mu.Lock()
	defer d.mu.Unlock()
	d.total++
	if !d.budget(e.Gateway, e.Time, int64(len(line))) {
		d.dropped++
		return nil
	}
	if len(d.ring) < cap(d.ring) {
		d.ring = append(d.ring, e)
	} else {
		d.ring[d.next] = e
		d.next = (d.next + 1) % len(d.ring)
	}
	if d.f == nil {
		return nil
	}
	if d.size > 0 && (d.size+int64(len(line)) > d.opts.MaxBytes || e.Time.Sub(d.since) > d.opts.MaxAge) {
		if err := d.rotate(); err != nil {
			return err
		}
	}
	n, err := d.f.Write(line)
	d.size += int64(n)
	if d.since.IsZero() {
		d.since = e.Time
	}
	if err != nil {
		return fmt.Errorf("dead-letter write: %w", err)
	}
	return nil
}

// budget charges n bytes to gateway at t and reports whether they fit.
func (d *DeadLetter) budget(gateway string, t time.Time, n int64) bool {
	if gateway == "" {
		return true
	}
	b := d.budgets[gateway]
	if b == nil {
		if len(d.budgets) >= maxCapGateways {
			clear(d.budgets)
		}
		b = &gatewayBudget{start: t}
		d.budgets[gateway] = b
	}
	if t.Sub(b.start) >= d.opts.GatewayWindow || t.Before(b.start) {
		*b = gatewayBudget{start: t}
	}
	if b.written+n > d.opts.GatewayBytes {
		b.dropped++
		return false
	}
	b.written += n
	return true
}

// rotate shifts Path.{i} to Path.{i+1}, dropping the oldest past Keep,
// and starts a new file.
func (d *DeadLetter) rotate() error {
	if err := d.f.Close(); err != nil {
		return fmt.Errorf("dead-letter rotate: %w", err)
	}
	d.f = nil
	p := d.opts.Path
	if err := os.Remove(p + "." + strconv.Itoa(d.opts.Keep)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dead-letter rotate: %w", err)
	}
	for i := d.opts.Keep - 1; i >= 1; i-- {
		if err := os.Rename(p+"."+strconv.Itoa(i), p+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("dead-letter rotate: %w", err)
		}
	}
	if err := os.Rename(p, p+".1"); err != nil {
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

// Total is the number of entries offered since the store was opened,
// kept or not.
func (d *DeadLetter) Total() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.total
}

// Dropped is the number of entries not kept because their gateway was
// past its budget.
func (d *DeadLetter) Dropped() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped
}

// Capped lists the gateways past their budget in the present window,
// with the entries each had dropped.
func (d *DeadLetter) Capped() map[string]int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]int64{}
	for g, b := range d.budgets {
		if b.dropped > 0 {
			out[g] = b.dropped
		}
	}
	return out
}

// ServeHTTP lists the recent entries as JSON; ?gateway=site/gw and
// ?reason=R keep only the entries of that gateway or with that reason
// (the message's or one of its readings').
func (d *DeadLetter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	recent := d.Recent()
	gw, reason := r.URL.Query().Get("gateway"), Reason(r.URL.Query().Get("reason"))
	if gw != "" || reason != "" {
		kept := recent[:0]
		for _, e := range recent {
			if (gw == "" || e.Gateway == gw) && (reason == "" || e.HasReason(reason)) {
				kept = append(kept, e)
			}
		}
		recent = kept
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(struct {
		Total   int64             `json:"total"`
		Dropped int64             `json:"dropped"`
		Capped  map[string]int64  `json:"capped"`
		File    string            `json:"file,omitempty"`
		Recent  []DeadLetterEntry `json:"recent"`
	}{d.Total(), d.Dropped(), d.Capped(), d.opts.Path, recent})
}

// HasReason reports whether r is the entry's reason or one of its rejected
// readings'.
func (e *DeadLetterEntry) HasReason(r Reason) bool {
	if e.Reason == r {
		return true
	}
	for _, x := range e.Rejected {
		if x.Reason == r {
			return true
		}
	}
	return false
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

// messageRejects gathers the rejections of one message, so it is parked
// once.
type messageRejects struct {
	whole    *DeadLetterEntry
	readings []RejectedReading
}

func (m *messageRejects) reset() {
	m.whole = nil
	m.readings = m.readings[:0]
}

// entry builds the message's dead-letter entry; ok is false when nothing
// of it was rejected.
func (m *messageRejects) entry(topic string, now time.Time) (DeadLetterEntry, bool) {
	if m.whole != nil {
		e := *m.whole
		e.Gateway = GatewayOf(topic)
		return e, true
	}
	if len(m.readings) == 0 {
		return DeadLetterEntry{}, false
	}
	first := m.readings[0]
	e := DeadLetterEntry{Time: now, Topic: topic, Gateway: GatewayOf(topic), Reason: first.Reason,
		Rejected: append([]RejectedReading(nil), m.readings...)}
	if len(m.readings) == 1 {
		e.Sensor, e.Detail = first.Sensor, first.Detail
	} else {
		e.Detail = fmt.Sprintf("%d readings rejected: %s", len(m.readings), reasonCounts(m.readings))
	}
	return e, true
}

// reasonCounts summarises rejections as "unknown_sensor ×3, bad_value ×1",
// in order of first appearance.
func reasonCounts(rs []RejectedReading) string {
	var order []Reason
	n := map[Reason]int{}
	for _, r := range rs {
		if n[r.Reason] == 0 {
			order = append(order, r.Reason)
		}
		n[r.Reason]++
	}
	parts := make([]string, len(order))
	for i, r := range order {
		parts[i] = fmt.Sprintf("%s ×%d", r, n[r])
	}
	return strings.Join(parts, ", ")
}
