// Package journal keeps a tamper-evident record of every alarm transition
// and every operator action: an append-only JSON-lines file in which each
// record carries the SHA-256 of the record before it and its own. Editing,
// inserting, deleting or reordering a record breaks the chain at that line,
// which Verify reports.
//
// The journal is split into segment files so that retention can drop
// whole old segments. Every segment starts with a "segment" header record
// whose prev is the last hash of the segment before it, so the chain stays
// verifiable across the boundary even after older segments are gone.
package journal

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riskmon/riskmon/alerting"
)

// Record kinds.
const (
	KindSegment = "segment" // first record of every segment file
	KindAlarm   = "alarm"   // an alerting.Event
	KindAction  = "action"  // an operator action: login, logout, failed login, ack
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
	// its ",\"hash\"" member. It is the last member, so verification
	// works on the exact bytes and needs no canonical JSON.
	Hash string `json:"hash,omitempty"`
}

// Options configure a journal.
type Options struct {
	// Dir holds the segment files.
	Dir string
	// Retention is how long records are kept; whole segments older than
	// this are removed. Default 30 days, the usual minimum for
	// hazardous-chemical sites' alarm records. Negative keeps everything.
	Retention time.Duration
	// Segment is how long one segment file is written before the next one
	// starts. Default 24h.
	Segment time.Duration
	// Now is the journal's clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Journal appends records. Safe for concurrent use.
type Journal struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	f        *os.File
	name     string
	started  time.Time
	seq      uint64
	last     string
	failures uint64
}

const (
	filePrefix = "journal-"
	fileSuffix = ".jsonl"
)

// Open opens the journal in opts.Dir, continuing the chain of the newest
// segment there, and starts a new segment. Starting a segment at every
// open means a process never appends to a file a crash may have cut
// mid-line.
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
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j := &Journal{opts: opts, log: opts.Logger}
	segs, err := Segments(opts.Dir)
	if err != nil {
		return nil, err
	}
	if len(segs) > 0 {
		if j.seq, j.last, err = lastRecord(segs[len(segs)-1]); err != nil {
			return nil, err
		}
	}
	if err := j.startSegment("open"); err != nil {
		return nil, err
	}
	return j, nil
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

// lastRecord reads the sequence number and hash of the last complete
// record of a segment.
func lastRecord(path string) (uint64, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, "", fmt.Errorf("journal: %w", err)
	}
	lines := bytes.Split(data, []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		var r Record
		if len(lines[i]) == 0 || json.Unmarshal(lines[i], &r) != nil || r.Hash == "" {
			continue // a line cut by a crash; Verify will report it
		}
		return r.Seq, r.Hash, nil
	}
	return 0, "", nil
}

// startSegment closes the current file and starts the next, whose header
// carries the chain on. Called with j.mu held, or before j is shared.
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
	j.f, j.name, j.started = f, name, now
	hdr := struct {
		Reason      string `json:"reason"`
		PrevSegment string `json:"prev_segment,omitempty"`
	}{reason, filepath.Base(prev)}
	if err := j.appendLocked(KindSegment, now, hdr); err != nil {
		return err
	}
	j.log.Info("journal segment started", "file", name, "prev_hash", j.last)
	return nil
}

// Emit journals an alarm transition; it makes the journal an
// alerting.Sink. The record's time is when it was journaled; the event
// keeps its device time inside. A write error is logged, counted and
// otherwise swallowed: losing the journal must not stop alerting.
func (j *Journal) Emit(ev alerting.Event) {
	j.append(KindAlarm, time.Time{}, ev)
}

// Action journals an operator action at time at (zero: now).
func (j *Journal) Action(at time.Time, v any) {
	j.append(KindAction, at, v)
}

func (j *Journal) append(kind string, at time.Time, v any) {
	if at.IsZero() {
		at = j.opts.Now()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		j.failures++
		return // closed
	}
	if j.opts.Now().Sub(j.started) >= j.opts.Segment {
		if err := j.startSegment("rotate"); err != nil {
			j.failures++
			j.log.Error("journal: start segment", "err", err)
			return
		}
		j.pruneLocked()
	}
	if err := j.appendLocked(kind, at, v); err != nil {
		j.failures++
		j.log.Error("journal: append", "kind", kind, "err", err)
	}
}

// appendLocked writes one record with a single write call, so a crash
// leaves at worst a cut last line, never a mixed one.
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
	line, hash := seal(body)
	if _, err := j.f.Write(line); err != nil {
		return err
	}
	j.seq, j.last = r.Seq, hash
	return nil
}

// seal appends the hash member to a record encoded without it.
func seal(body []byte) (line []byte, hash string) {
	sum := sha256.Sum256(body)
	hash = hex.EncodeToString(sum[:])
	line = make([]byte, 0, len(body)+len(hash)+12)
	line = append(line, body[:len(body)-1]...)
	line = append(line, `,"hash":"`...)
	line = append(line, hash...)
	line = append(line, "\"}\n"...)
	return line, hash
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
	if j.f == nil {
		return nil
	}
	j.log.Info("journal closed", "seq", j.seq, "head_hash", j.last)
	err := errors.Join(j.f.Sync(), j.f.Close())
	j.f = nil
	return err
}

// Problem is the first place a journal fails verification.
type Problem struct {
	File   string
	Line   int
	Reason string
}

func (p *Problem) Error() string {
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Reason)
}

// Summary describes a journal that verified.
type Summary struct {
	Files   int
	Records int
	// Anchor is the prev hash of the first record kept: the last hash of
	// segments dropped by retention, or empty when nothing was dropped.
	Anchor     string
	First      uint64
	Last       uint64
	LastHash   string
	FirstAt    time.Time
	LastAtTime time.Time
}

// Verify checks a segment file or a directory of segments. It returns a
// *Problem naming the first bad line: a record whose hash does not match
// its content (edited), whose prev is not the hash before it (deleted,
// inserted or reordered), whose sequence number skips, or a line that is
// not a record (cut short).
func Verify(path string) (Summary, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Summary{}, err
	}
	files := []string{path}
	if fi.IsDir() {
		if files, err = Segments(path); err != nil {
			return Summary{}, err
		}
		if len(files) == 0 {
			return Summary{}, fmt.Errorf("journal: no %s*%s files in %s", filePrefix, fileSuffix, path)
		}
	}
	var sum Summary
	v := verifier{sum: &sum}
	for _, f := range files {
		if err := v.file(f); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

type verifier struct {
	sum     *Summary
	started bool
	seq     uint64
	last    string
}

func (v *verifier) file(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	v.sum.Files++
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		bad := func(format string, args ...any) error {
			return &Problem{File: path, Line: n, Reason: fmt.Sprintf(format, args...)}
		}
		r, err := check(sc.Bytes())
		if err != nil {
			return bad("%v", err)
		}
		// Every segment file starts with its header; an export excerpt
		// (the first file verified) may start anywhere.
		if n == 1 && v.started && r.Kind != KindSegment {
			return bad("first record is %q, want a segment header", r.Kind)
		}
		if !v.started {
			// The first record kept: its prev is the anchor left by
			// retention, which nothing here can check.
			v.started = true
			v.sum.Anchor, v.sum.First, v.sum.FirstAt = r.Prev, r.Seq, r.At
		} else {
			if r.Prev != v.last {
				return bad("seq %d: prev hash %.12s… is not the hash of the record before (%.12s…): a record was deleted, inserted or moved", r.Seq, r.Prev, v.last)
			}
			if r.Seq != v.seq+1 {
				return bad("seq %d follows seq %d: a record is missing or out of order", r.Seq, v.seq)
			}
		}
		v.seq, v.last = r.Seq, r.Hash
		v.sum.Records++
		v.sum.Last, v.sum.LastHash, v.sum.LastAtTime = r.Seq, r.Hash, r.At
	}
	if err := sc.Err(); err != nil {
		return &Problem{File: path, Line: n + 1, Reason: err.Error()}
	}
	if n == 0 {
		return &Problem{File: path, Line: 1, Reason: "empty segment: its header is missing"}
	}
	return nil
}

// check parses one line and verifies its own hash.
func check(line []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return r, fmt.Errorf("not a journal record (cut short?): %v", err)
	}
	suffix := `,"hash":"` + r.Hash + `"}`
	if len(r.Hash) != sha256.Size*2 || !bytes.HasSuffix(line, []byte(suffix)) {
		return r, errors.New("record has no hash as its last member")
	}
	body := append(slices.Clone(line[:len(line)-len(suffix)]), '}')
	got := sha256.Sum256(body)
	if hex.EncodeToString(got[:]) != r.Hash {
		return r, fmt.Errorf("seq %d: content does not match its hash: the record was edited", r.Seq)
	}
	return r, nil
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
