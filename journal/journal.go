// Package journal keeps a tamper-evident record of every alarm transition
// and every operator action: an append-only JSON-lines file in which each
// record carries the SHA-256 of the record before it and its own. Editing,
// inserting, deleting or reordering a record breaks the chain at that line,
// which Verify reports.
//
// A hash chain alone proves nothing against someone who can write the
// file: they can edit a record and recompute every later hash. So each
// record also carries an HMAC-SHA256 of its hash under a key kept outside
// the journal (state_dir/journal.key by default, mode 0600). Without the
// key a rewritten chain cannot be sealed again, and Verify with the key
// finds the first record that was. Cutting records off the end leaves a
// valid chain; the journal publishes its head (sequence number and hash)
// to the log and to metrics, so a head kept elsewhere can be checked with
// Verify's ExpectHead.
//
// The journal is split into segment files so that retention can drop
// whole old segments. Every segment starts with a "segment" header record
// whose prev is the last hash of the segment before it, so the chain stays
// verifiable across the boundary even after older segments are gone.
//
// A crash or a full disk can leave the newest segment empty or ending in a
// cut line (a torn tail). Open never fails on that: it continues the chain
// from the last whole record, and the new segment's header declares the
// torn bytes (file, offset, length), so Verify tells a torn tail, which is
// accounted for, from a file cut or edited afterwards, which is not.
package journal

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/alerting"
)

// Record kinds.
const (
	KindSegment = "segment" // first record of every segment file
	KindAlarm   = "alarm"   // an alerting.Event
	KindAction  = "action"  // an operator action: login, logout, failed login, ack
	// KindLost says how many records could not be written (a full disk)
	// between two times; it is written as soon as writing works again.
	KindLost = "lost"
)

// Record is one line of the journal.
type Record struct {
	Seq  uint64          `json:"seq"`
	At   time.Time       `json:"at"`
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data,omitempty"`
	// Prev is the hash of the record before, in this or an earlier
	// segment; empty only for the very first record of a journal.
	Prev string `json:"prev"`
	// Hash is the SHA-256 of the line as written up to, not including,
	// its ",\"hash\"" member. It and MAC are the last members, so
	// verification works on the exact bytes and needs no canonical JSON.
	Hash string `json:"hash,omitempty"`
	// MAC is the HMAC-SHA256 of Hash under the journal key; empty when
	// the journal has no key.
	MAC string `json:"mac,omitempty"`
}

// Torn describes bytes a crash or a full disk left at the end of a
// segment that are not a whole record. The header of the segment started
// after them declares them.
type Torn struct {
	// File is the segment's base name. A segment without a single whole
	// record is renamed to NAME.torn, since the next segment takes its
	// name.
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Bytes  int64  `json:"bytes"`
}

// segmentHeader is the data of a KindSegment record.
type segmentHeader struct {
	Reason      string `json:"reason"` // open, rotate, write_error
	PrevSegment string `json:"prev_segment,omitempty"`
	Torn        []Torn `json:"torn,omitempty"`
	// SetAside names segments that held no valid record although they
	// had whole lines: damage, not a crash. Verify reports them.
	SetAside []string `json:"set_aside,omitempty"`
}

// lostRecord is the data of a KindLost record.
type lostRecord struct {
	Records uint64    `json:"records"`
	Since   time.Time `json:"since"`
	Until   time.Time `json:"until"`
	Err     string    `json:"err"`
}

// Options configure a journal.
type Options struct {
	// Dir holds the segment files.
	Dir string
	// Key is the HMAC key every record is sealed with (see LoadKey);
	// nil writes records with a hash chain only.
	Key []byte
	// Retention is how long records are kept; whole segments older than
	// this are removed. Default 30 days, the usual minimum for
	// hazardous-chemical sites' alarm records. Negative keeps everything.
	Retention time.Duration
	// Segment is how long one segment file is written before the next one
	// starts. Default 24h.
	Segment time.Duration
	// HeadEvery is how often the head is logged and set in the
	// riskmon_journal_head_info metric while records are written, so it
	// is kept outside the journal. Default 1h.
	HeadEvery time.Duration
	// Registerer receives the journal's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the journal's clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Journal appends records. Safe for concurrent use.
type Journal struct {
	opts Options
	log  *slog.Logger
	m    metrics

	mu       sync.Mutex
	f        *os.File // nil: closed, or the next record starts a segment
	closed   bool
	name     string
	size     int64 // bytes of f known to hold whole records
	started  time.Time
	seq      uint64
	last     string
	failures uint64
	// torn and damaged are what the next segment header declares.
	torn    []Torn
	damaged []string
	// openTorn is every torn tail Open found, kept for TornAtOpen after
	// the new header has declared them.
	openTorn []Torn
	// lost counts records not written since lostSince; a KindLost record
	// reports them once writing works again.
	lost      uint64
	lostSince time.Time
	lostErr   string
	headAt    time.Time
}

type metrics struct {
	head     *prometheus.GaugeVec
	headSeq  prometheus.Gauge
	failures prometheus.Counter
	torn     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		head: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "riskmon_journal_head_info",
			Help: "The journal's head as last published (hourly, at each segment start and at shutdown): compare with journal verify --expect-head SEQ:HASH."}, []string{"seq", "hash"}),
		headSeq: prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskmon_journal_head_seq",
			Help: "Sequence number of the newest journal record."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskmon_journal_write_failures_total",
			Help: "Journal records that could not be written (full disk, I/O error); a lost record later says how many and when."}),
		torn: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskmon_journal_torn_tails_total",
			Help: "Cut or empty segment ends found at start, left by a crash or a full disk, and declared in the next segment."}),
	}
	if reg != nil {
		reg.MustRegister(m.head, m.headSeq, m.failures, m.torn)
	}
	return m
}

const (
	filePrefix    = "journal-"
	fileSuffix    = ".jsonl"
	tornSuffix    = ".torn"
	damagedSuffix = ".damaged"
)

// Open opens the journal in opts.Dir, continuing the chain from the last
// whole record there, and starts a new segment. Starting a segment at
// every open means a process never appends to a file a crash may have
// cut mid-line. A torn tail does not stop it: it is declared in the new
// segment's header, logged and counted. Nor does a full disk: the segment
// is started with the first record that can be written.
func Open(opts Options) (*Journal, error) {
	if opts.Dir == "" {
		return nil, errors.New("journal: no directory")
	}
	if opts.Retention == 0 {
		opts.Retention = 30 * 24 * time.Hour
	}
	if opts.Segment <= 0 {
		opts.Segment = 24 * time.Hour
	}
	if opts.HeadEvery <= 0 {
		opts.HeadEvery = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j := &Journal{opts: opts, log: opts.Logger, m: newMetrics(opts.Registerer)}
	segs, err := Segments(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := j.resume(segs); err != nil {
		return nil, err
	}
	j.openTorn = slices.Clone(j.torn)
	if err := j.startSegment("open"); err != nil {
		// A full disk must not keep riskmon from starting and alerting:
		// the first record tries again, and the loss is counted from
		// there.
		j.failures++
		j.m.failures.Inc()
		j.log.Error("journal: cannot start a segment; records are retried and counted until it works", "err", err)
	}
	return j, nil
}

// resume finds the last whole record, walking back past segments that
// hold none, and notes every torn tail on the way for the next header.
func (j *Journal) resume(segs []string) error {
	for i := len(segs) - 1; i >= 0; i-- {
		t, err := scanTail(segs[i])
		if err != nil {
			return err
		}
		if !t.found {
			// Not one whole record. With no complete line either, it is
			// a crash between creating the file and writing its header,
			// or a full disk: a torn tail. Whole lines that are all bad
			// are damage, which the next header names so that Verify
			// keeps reporting it. Either way the next segment takes this
			// name, so the file moves aside.
			to := segs[i] + tornSuffix
			if t.damaged > 0 {
				to = segs[i] + damagedSuffix
			}
			if err := os.Rename(segs[i], to); err != nil {
				return fmt.Errorf("journal: move aside a segment with no whole record: %w", err)
			}
			if t.damaged > 0 {
				j.damaged = append(j.damaged, filepath.Base(to))
				j.log.Error("journal: a segment holds no valid record and was set aside; run riskmon journal verify", "file", to)
				continue
			}
			j.noteTorn(Torn{File: filepath.Base(to), Offset: 0, Bytes: t.size})
			continue
		}
		if t.damaged > 0 {
			// Whole lines that are not records: not a crash, which only
			// cuts the last line. Verify reports them; the chain goes on
			// from the last good record so alarms are still journaled.
			j.log.Error("journal: the newest segment ends in damaged records; continuing the chain from the last good one; run riskmon journal verify",
				"file", segs[i], "damaged_lines", t.damaged, "seq", t.seq)
		}
		if t.goodEnd < t.size {
			j.noteTorn(Torn{File: filepath.Base(segs[i]), Offset: t.goodEnd, Bytes: t.size - t.goodEnd})
		}
		j.seq, j.last = t.seq, t.hash
		j.name = segs[i]
		break
	}
	return nil
}

// TornAtOpen lists the torn tails Open found, newest segment first: the
// bytes a crash or a full disk cut from the records being written. They
// are declared in the new segment's header, logged and counted; the
// service raises an alert on them too, since those records may be
// missing from the journal.
func (j *Journal) TornAtOpen() []Torn { return slices.Clone(j.openTorn) }

func (j *Journal) noteTorn(t Torn) {
	j.torn = append(j.torn, t)
	j.m.torn.Inc()
	j.log.Warn("journal: segment ends in a torn tail (crash or full disk while writing); the new segment declares it",
		"file", t.File, "offset", t.Offset, "bytes", t.Bytes)
}

// Segments lists the segment files of dir, oldest first.
func Segments(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasPrefix(e.Name(), filePrefix) && strings.HasSuffix(e.Name(), fileSuffix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	// Names carry the zero-padded first sequence number: name order is
	// chain order.
	slices.Sort(out)
	return out, nil
}

// tail is what scanTail learns of a segment's end.
type tail struct {
	found   bool // a whole record was found
	seq     uint64
	hash    string
	goodEnd int64 // offset just after the last line of the file that ends in a newline, or the size if the last line is a whole record
	size    int64
	damaged int // newline-terminated lines after the last good record
}

// scanTail reads a segment and finds its last whole record and where its
// torn tail, if any, starts. Only the hash is checked, not the MAC: a
// changed key must not make the journal lose its place.
func scanTail(path string) (tail, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return tail{}, fmt.Errorf("journal: %w", err)
	}
	t := tail{size: int64(len(data)), goodEnd: int64(len(data))}
	body := data
	if nl := bytes.LastIndexByte(data, '\n'); nl < len(data)-1 {
		// Bytes after the last newline: a whole record whose newline was
		// cut, or a torn tail.
		rest := data[nl+1:]
		if r, err := check(rest); err == nil {
			t.found, t.seq, t.hash = true, r.Seq, r.Hash
			return t, nil
		}
		t.goodEnd = int64(nl + 1)
		body = data[:nl+1]
	}
	if len(body) == 0 {
		return t, nil
	}
	lines := bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		r, err := check(lines[i])
		if err != nil {
			t.damaged++
			continue
		}
		t.found, t.seq, t.hash = true, r.Seq, r.Hash
		return t, nil
	}
	return t, nil
}

// startSegment closes the current file and starts the next, whose header
// carries the chain on and declares any torn tail. Called with j.mu held,
// or before j is shared.
func (j *Journal) startSegment(reason string) error {
	prev := j.name
	if j.f != nil {
		if err := j.f.Sync(); err != nil {
			j.log.Error("journal: sync segment", "file", j.name, "err", err)
		}
		_ = j.f.Close()
		j.f = nil
	}
	now := j.opts.Now()
	name := filepath.Join(j.opts.Dir, fmt.Sprintf("%s%020d%s", filePrefix, j.seq+1, fileSuffix))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	hdr := segmentHeader{Reason: reason, Torn: j.torn, SetAside: j.damaged}
	if prev != "" {
		hdr.PrevSegment = filepath.Base(prev)
	}
	j.f, j.size = f, 0
	if err := j.appendLocked(KindSegment, now, hdr); err != nil {
		// The file holds nothing whole; remove it so the next attempt
		// can take the name.
		_ = f.Close()
		_ = os.Remove(name)
		j.f = nil
		return err
	}
	j.name, j.started, j.torn, j.damaged = name, now, nil, nil
	j.publishHead(now, "journal segment started", "file", name)
	return nil
}

// publishHead logs the head and sets it in the metrics; a copy kept
// elsewhere is what shows records cut off the end.
func (j *Journal) publishHead(now time.Time, msg string, args ...any) {
	j.headAt = now
	j.m.head.Reset()
	j.m.head.WithLabelValues(strconv.FormatUint(j.seq, 10), j.last).Set(1)
	j.log.Info(msg, append(args, "head_seq", j.seq, "head_hash", j.last)...)
}

// Emit journals an alarm transition; it makes the journal an
// alerting.Sink. The record's time is when it was journaled; the event
// keeps its device time inside. A write error is logged, counted and
// reported in a later record: losing the journal must not stop alerting.
func (j *Journal) Emit(ev alerting.Event) {
	j.append(KindAlarm, time.Time{}, ev)
}

// Action journals an operator action at time at (zero: now).
func (j *Journal) Action(at time.Time, v any) {
	j.append(KindAction, at, v)
}

func (j *Journal) append(kind string, at time.Time, v any) {
	now := j.opts.Now()
	if at.IsZero() {
		at = now
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		j.fail(now, errors.New("journal closed"))
		return
	}
	if j.f == nil || now.Sub(j.started) >= j.opts.Segment {
		reason := "rotate"
		if j.f == nil {
			reason = "write_error"
		}
		if err := j.startSegment(reason); err != nil {
			j.fail(now, err)
			return
		}
		if reason == "rotate" {
			j.pruneLocked()
		}
	}
	if j.lost > 0 {
		lr := lostRecord{Records: j.lost, Since: j.lostSince.UTC(), Until: now.UTC(), Err: j.lostErr}
		if err := j.appendLocked(KindLost, now, lr); err != nil {
			j.fail(now, err)
			return
		}
		j.log.Warn("journal writes again; the records it could not write are counted in the journal", "lost", lr.Records, "since", lr.Since)
		j.lost = 0
	}
	if err := j.appendLocked(kind, at, v); err != nil {
		j.fail(now, err)
		return
	}
	if now.Sub(j.headAt) >= j.opts.HeadEvery {
		j.publishHead(now, "journal head")
	}
}

// fail counts a record that was not written.
func (j *Journal) fail(now time.Time, err error) {
	j.failures++
	j.m.failures.Inc()
	if j.lost == 0 {
		j.lostSince = now
		j.log.Error("journal: record not written; alerting goes on, the loss is recorded once writing works", "err", err)
	}
	j.lost++
	j.lostErr = err.Error()
}

// appendLocked writes one record with a single write call. A failed
// write is undone by cutting the file back, so a full disk leaves no
// partial line for later records to follow; if even that fails, the
// file is abandoned and the next record starts a segment that declares
// the partial line as a torn tail.
func (j *Journal) appendLocked(kind string, at time.Time, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	r := Record{Seq: j.seq + 1, At: at.UTC(), Kind: kind, Data: data, Prev: j.last}
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	line, hash := seal(body, j.opts.Key)
	n, err := j.f.Write(line)
	if err != nil {
		if n > 0 {
			if terr := j.f.Truncate(j.size); terr != nil {
				j.torn = append(j.torn, Torn{File: filepath.Base(j.name), Offset: j.size, Bytes: int64(n)})
				_ = j.f.Close()
				j.f = nil
				return fmt.Errorf("%w (and the partial line could not be cut: %w)", err, terr)
			}
		}
		return err
	}
	j.size += int64(n)
	j.seq, j.last = r.Seq, hash
	j.m.headSeq.Set(float64(r.Seq))
	return nil
}

// seal appends the hash member, and the MAC member when there is a key,
// to a record encoded without them.
func seal(body, key []byte) (line []byte, hash string) {
	sum := sha256.Sum256(body)
	hash = hex.EncodeToString(sum[:])
	line = make([]byte, 0, len(body)+2*len(hash)+24)
	line = append(line, body[:len(body)-1]...)
	line = append(line, `,"hash":"`...)
	line = append(line, hash...)
	if key != nil {
		line = append(line, `","mac":"`...)
		line = append(line, mac(key, hash)...)
	}
	line = append(line, "\"}\n"...)
	return line, hash
}

// mac is the hex HMAC-SHA256 of a record hash. The hash covers prev, so
// the MAC of one record vouches for the whole chain up to it.
func mac(key []byte, hash string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(hash))
	return hex.EncodeToString(h.Sum(nil))
}

// pruneLocked removes the oldest segments whose newest record is older
// than the retention. It stops at the first one still needed, so what is
// kept is always one unbroken run of the chain.
func (j *Journal) pruneLocked() {
	if j.opts.Retention < 0 {
		return
	}
	segs, err := Segments(j.opts.Dir)
	if err != nil {
		j.log.Error("journal: list segments", "err", err)
		return
	}
	cutoff := j.opts.Now().Add(-j.opts.Retention)
	for _, s := range segs {
		if s == j.name {
			return
		}
		fi, err := os.Stat(s)
		if err != nil || !fi.ModTime().Before(cutoff) {
			return
		}
		if err := os.Remove(s); err != nil {
			j.log.Error("journal: drop old segment", "file", s, "err", err)
			return
		}
		j.log.Info("journal segment dropped after retention", "file", s, "retention", j.opts.Retention)
	}
}

// Head returns the sequence number and hash of the newest record; logging
// or exporting it elsewhere now and then also makes cutting records off
// the end detectable.
func (j *Journal) Head() (uint64, string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.seq, j.last
}

// Lost is how many records have not been written since the last one that
// was: zero while the journal writes.
func (j *Journal) Lost() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lost
}

// Failures counts records that could not be written.
func (j *Journal) Failures() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.failures
}

// Close syncs and closes the journal; later records are counted as
// failures.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	j.publishHead(j.opts.Now(), "journal closed")
	if j.f == nil {
		return nil
	}
	err := errors.Join(j.f.Sync(), j.f.Close())
	j.f = nil
	return err
}

// Export writes the records of path (file or directory) at or after since
// to w, one line each as stored, so the excerpt verifies on its own from
// its first record's prev.
func Export(path string, since time.Time, w func(line []byte) error) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	files := []string{path}
	if fi.IsDir() {
		if files, err = Segments(path); err != nil {
			return err
		}
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		for line := range bytes.Lines(data) {
			var r Record
			if json.Unmarshal(line, &r) != nil || r.At.Before(since) {
				continue
			}
			if err := w(line); err != nil {
				return err
			}
		}
	}
	return nil
}
