package ingest

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The spool is riskmon's write-ahead log between MQTT and InfluxDB. Every
// message's valid readings are appended to it as one record and the
// message is acknowledged to the broker once the record is on disk
// (fsynced, with group commit so one fsync covers many messages). A
// forwarder reads the records back in order and writes them to InfluxDB;
// only after InfluxDB has stored a batch does the read cursor move past
// it. So an acknowledged reading is always in InfluxDB or in the spool,
// through InfluxDB outages, crashes and restarts.
//
// Why not a library: the on-disk queues available for Go either keep no
// checksum per record (github.com/tidwall/wal stores a length prefix
// only, and refuses to open a log whose tail is torn) or track positions
// in a side file that can lag the data (github.com/nsqio/go-diskqueue).
// A torn or half-zeroed tail after a power cut must be found and cut off,
// never replayed as garbage, so records here carry a CRC-32C.
//
// Layout: a folder of segment files named by a sequence number, each a
// run of records [length uint32][crc32c uint32][payload]; a payload is
// [readings uvarint][line protocol]. A file "cursor" holds the segment and
// offset of the first record not yet stored in InfluxDB.

const (
	recordHeader  = 8
	segmentSuffix = ".seg"
	cursorFile    = "cursor"
	maxRecord     = 64 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// SpoolOptions configure the spool.
type SpoolOptions struct {
	Dir string `yaml:"dir"`
	// MaxBytes caps the records not yet stored in InfluxDB. At the cap,
	// Append waits: messages stop being acknowledged and the broker holds
	// them, so nothing is dropped.
	MaxBytes int64 `yaml:"max_bytes"`
	// SegmentBytes is the size at which a new segment file is started;
	// consumed segments are deleted whole.
	SegmentBytes int64 `yaml:"segment_bytes"`
	// CommitInterval is the longest a record waits for its fsync; more
	// records arriving meanwhile share it.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// CommitBytes starts a commit early once this much is pending.
	CommitBytes int `yaml:"commit_bytes"`
}

func (o SpoolOptions) withDefaults() SpoolOptions {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 30
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 64 << 20
	}
	if o.CommitInterval <= 0 {
		o.CommitInterval = 5 * time.Millisecond
	}
	if o.CommitBytes <= 0 {
		o.CommitBytes = 1 << 20
	}
	return o
}

// SpoolPos is a place in the spool: a segment and a byte offset in it.
type SpoolPos struct {
	Seg uint64
	Off int64
}

func (p SpoolPos) less(q SpoolPos) bool {
	return p.Seg < q.Seg || (p.Seg == q.Seg && p.Off < q.Off)
}

// SpoolBatch is a run of records read back for one write to InfluxDB.
type SpoolBatch struct {
	Lines    []byte // line protocol of all records
	Readings int
	Bytes    int64    // on-disk size of the records
	End      SpoolPos // position after the last record
}

// SpoolMetrics are the spool's instruments.
type SpoolMetrics struct {
	Bytes, Readings, Full, Cap prometheus.Gauge
	Commits                    prometheus.Counter
	CommitDuration             prometheus.Histogram
	Torn, Corrupt              prometheus.Counter
}

// NewSpoolMetrics creates and registers the spool metrics.
func NewSpoolMetrics(reg prometheus.Registerer) *SpoolMetrics {
	m := &SpoolMetrics{
		Bytes:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskmon_spool_bytes", Help: "Bytes in the spool not yet stored in InfluxDB."}),
		Readings: prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskmon_spool_readings", Help: "Readings in the spool not yet stored in InfluxDB."}),
		Full:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskmon_spool_full", Help: "1 while the spool is at its cap and intake waits (storage backlog)."}),
		Cap:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskmon_spool_max_bytes", Help: "The spool's configured cap."}),
		Commits:  prometheus.NewCounter(prometheus.CounterOpts{Name: "riskmon_spool_commits_total", Help: "Group commits (one fsync each)."}),
		CommitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "riskmon_spool_commit_duration_seconds",
			Help: "Write plus fsync time of a group commit.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14)}),
		Torn:    prometheus.NewCounter(prometheus.CounterOpts{Name: "riskmon_spool_torn_records_total", Help: "Incomplete records found at the end of the spool after a crash and cut off; their messages were never acknowledged."}),
		Corrupt: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskmon_spool_corrupt_records_total", Help: "Records that failed their checksum inside the spool and were skipped with the rest of their segment."}),
	}
	if reg != nil {
		reg.MustRegister(m.Bytes, m.Readings, m.Full, m.Cap, m.Commits, m.CommitDuration, m.Torn, m.Corrupt)
	}
	return m
}

// Spool is a durable FIFO of line-protocol records with group commit.
type Spool struct {
	opts SpoolOptions
	m    *SpoolMetrics
	log  *slog.Logger

	mu        sync.Mutex
	space     *sync.Cond // signalled when backlog shrinks or the spool closes
	pending   []byte
	dones     []func()
	spareBuf  []byte
	spareDone []func()
	kick      chan struct{}
	closed    bool
	backlog   int64 // bytes appended (pending or committed) and not consumed
	readings  int64
	committed SpoolPos
	newData   chan struct{} // closed and replaced on every commit

	// Only the committer touches these.
	wseg  uint64
	wfile *os.File

	// Only the reader touches these.
	rpos  SpoolPos
	rfile *os.File
	rbuf  *bufio.Reader
	rrec  []byte
}

// OpenSpool opens or creates the spool in opts.Dir, cutting off a torn
// record at its end.
func OpenSpool(opts SpoolOptions, m *SpoolMetrics, log *slog.Logger) (*Spool, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{opts: opts, m: m, log: log, kick: make(chan struct{}, 1), newData: make(chan struct{})}
	s.space = sync.NewCond(&s.mu)
	m.Cap.Set(float64(opts.MaxBytes))
	cur, err := s.readCursor()
	if err != nil {
		return nil, err
	}
	segs, err := s.segments()
	if err != nil {
		return nil, err
	}
	for _, seg := range segs {
		if seg < cur.Seg {
			if err := os.Remove(s.segPath(seg)); err != nil {
				return nil, fmt.Errorf("spool: remove consumed segment: %w", err)
			}
		}
	}
	segs = slices.DeleteFunc(segs, func(seg uint64) bool { return seg < cur.Seg })
	if len(segs) == 0 || segs[0] > cur.Seg {
		// Nothing left at the cursor: start reading at the first segment.
		if len(segs) > 0 {
			cur = SpoolPos{Seg: segs[0]}
		}
	}
	for i, seg := range segs {
		from := int64(0)
		if seg == cur.Seg {
			from = cur.Off
		}
		end, bytes, readings, err := s.scan(seg, from, i == len(segs)-1)
		if err != nil {
			return nil, err
		}
		s.backlog += bytes
		s.readings += readings
		if i == len(segs)-1 {
			s.wseg = seg
			s.committed = SpoolPos{Seg: seg, Off: end}
		}
	}
	if len(segs) == 0 {
		s.wseg = cur.Seg
		if s.wseg == 0 {
			s.wseg = 1
		}
		s.committed = SpoolPos{Seg: s.wseg}
		cur = s.committed
	}
	s.rpos = cur
	f, err := os.OpenFile(s.segPath(s.wseg), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s.wfile = f
	if err := syncDir(opts.Dir); err != nil {
		return nil, err
	}
	s.publishGauges()
	if s.readings > 0 {
		log.Info("spool holds readings not yet stored; replaying them", "readings", s.readings, "bytes", s.backlog)
	}
	return s, nil
}

func (s *Spool) segPath(seg uint64) string {
	return filepath.Join(s.opts.Dir, fmt.Sprintf("%016d%s", seg, segmentSuffix))
}

func (s *Spool) segments() ([]uint64, error) {
	ents, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var out []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// scan checks the records of a segment from offset from, and returns the
// end of the last good one. A bad record at the end of the last segment is
// a torn write from a crash: the file is cut there (its message was never
// acknowledged, since acks wait for the fsync). Elsewhere it is
// corruption: the rest of that segment is skipped.
func (s *Spool) scan(seg uint64, from int64, last bool) (end, bytes, readings int64, err error) {
	f, err := os.Open(s.segPath(seg))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return 0, 0, 0, fmt.Errorf("spool: %w", err)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	end = from
	var buf []byte
	for {
		var n int
		var payload []byte
		payload, n, buf, err = readRecord(r, buf)
		if err == io.EOF {
			return end, bytes, readings, nil
		}
		if err != nil {
			if last {
				s.m.Torn.Inc()
				s.log.Warn("spool: cut off a torn record at the end of the spool (a crash interrupted its write; it was never acknowledged)",
					"segment", seg, "offset", end, "err", err)
				if terr := os.Truncate(s.segPath(seg), end); terr != nil {
					return 0, 0, 0, fmt.Errorf("spool: truncate torn tail: %w", terr)
				}
			} else {
				s.m.Corrupt.Inc()
				s.log.Error("spool: corrupt record inside the spool; skipping the rest of its segment", "segment", seg, "offset", end, "err", err)
			}
			return end, bytes, readings, nil
		}
		cnt, _ := binary.Uvarint(payload)
		end += int64(n)
		bytes += int64(n)
		readings += int64(cnt)
	}
}

var errBadRecord = errors.New("bad record")

// readRecord reads one record, returning its payload and on-disk size.
// A short read or a checksum mismatch is errBadRecord; a clean end of
// file is io.EOF.
func readRecord(r *bufio.Reader, buf []byte) (payload []byte, n int, _ []byte, err error) {
	var hdr [recordHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return nil, 0, buf, io.EOF
		}
		return nil, 0, buf, fmt.Errorf("%w: short header: %v", errBadRecord, err)
	}
	size := binary.LittleEndian.Uint32(hdr[0:4])
	sum := binary.LittleEndian.Uint32(hdr[4:8])
	if size == 0 || size > maxRecord {
		return nil, 0, buf, fmt.Errorf("%w: length %d", errBadRecord, size)
	}
	if cap(buf) < int(size) {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, 0, buf, fmt.Errorf("%w: short payload: %v", errBadRecord, err)
	}
	if crc32.Checksum(buf, crcTable) != sum {
		return nil, 0, buf, fmt.Errorf("%w: checksum mismatch", errBadRecord)
	}
	if _, k := binary.Uvarint(buf); k <= 0 {
		return nil, 0, buf, fmt.Errorf("%w: no reading count", errBadRecord)
	}
	return buf, recordHeader + int(size), buf, nil
}

func (s *Spool) readCursor() (SpoolPos, error) {
	b, err := os.ReadFile(filepath.Join(s.opts.Dir, cursorFile))
	if errors.Is(err, os.ErrNotExist) {
		return SpoolPos{}, nil
	}
	if err != nil {
		return SpoolPos{}, fmt.Errorf("spool cursor: %w", err)
	}
	var p SpoolPos
	if _, err := fmt.Sscanf(string(b), "%d %d", &p.Seg, &p.Off); err != nil {
		// A cursor is written by rename, so it is whole or absent; if it
		// is unreadable anyway, replaying from the first segment only
		// repeats writes, which overwrite themselves.
		s.log.Error("spool cursor unreadable; replaying from the oldest segment", "err", err)
		return SpoolPos{}, nil
	}
	return p, nil
}

// TryAppend adds a record like Append but never waits: it reports false
// when the spool is at its cap or closed. For writers that must not block,
// such as alert events emitted from rule evaluation.
func (s *Spool) TryAppend(lines []byte, n int) bool {
	s.mu.Lock()
	full := s.backlog >= s.opts.MaxBytes || s.closed
	s.mu.Unlock()
	if full {
		return false
	}
	// Between the check and the append the cap may be passed by one
	// record; that is fine, the cap is a bound on waiting, not on bytes.
	return s.appendRecord(lines, n, nil, false) == nil
}

// Append adds one record of n readings; done runs once it is durable.
// It waits while the spool is at its cap and fails once it is closed.
func (s *Spool) Append(lines []byte, n int, done func()) error {
	return s.appendRecord(lines, n, done, true)
}

func (s *Spool) appendRecord(lines []byte, n int, done func(), wait bool) error {
	var cnt [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(cnt[:], uint64(n))
	size := k + len(lines)
	s.mu.Lock()
	for wait && s.backlog >= s.opts.MaxBytes && !s.closed {
		s.m.Full.Set(1)
		s.space.Wait()
	}
	if s.closed {
		s.mu.Unlock()
		return errors.New("spool is closed")
	}
	var hdr [recordHeader]byte
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(size))
	binary.LittleEndian.PutUint32(hdr[4:8], crc32.Update(crc32.Checksum(cnt[:k], crcTable), crcTable, lines))
	s.pending = append(s.pending, hdr[:]...)
	s.pending = append(s.pending, cnt[:k]...)
	s.pending = append(s.pending, lines...)
	if done != nil {
		s.dones = append(s.dones, done)
	}
	s.backlog += int64(recordHeader + size)
	s.readings += int64(n)
	kick := len(s.pending) >= s.opts.CommitBytes
	s.mu.Unlock()
	if kick {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// Run group-commits until ctx ends, then commits what is pending and
// stops accepting records.
func (s *Spool) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			s.closed = true
			s.space.Broadcast()
			s.mu.Unlock()
			return s.commit()
		case <-t.C:
		case <-s.kick:
		}
		if err := s.commit(); err != nil {
			// Stop intake so no worker waits on a spool that will
			// never commit again; its records stay unacknowledged.
			s.mu.Lock()
			s.closed = true
			s.space.Broadcast()
			s.mu.Unlock()
			return err
		}
	}
}

// commit writes the pending records, fsyncs and then acknowledges them.
func (s *Spool) commit() error {
	s.mu.Lock()
	if len(s.pending) == 0 {
		s.mu.Unlock()
		return nil
	}
	buf, dones := s.pending, s.dones
	s.pending, s.dones = s.spareBuf[:0], s.spareDone[:0]
	s.mu.Unlock()

	start := time.Now()
	if _, err := s.wfile.Write(buf); err != nil {
		return fmt.Errorf("spool write: %w", err)
	}
	if err := s.wfile.Sync(); err != nil {
		// After a failed fsync the page cache state is unknown; stopping
		// is the only safe answer (the records stay unacknowledged).
		return fmt.Errorf("spool fsync: %w", err)
	}
	s.m.CommitDuration.Observe(time.Since(start).Seconds())
	s.m.Commits.Inc()
	st, err := s.wfile.Stat()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	pos := SpoolPos{Seg: s.wseg, Off: st.Size()}
	if st.Size() >= s.opts.SegmentBytes {
		if err := s.rotate(); err != nil {
			return err
		}
	}

	s.mu.Lock()
	s.committed = pos
	close(s.newData)
	s.newData = make(chan struct{})
	s.publishGauges()
	s.mu.Unlock()
	for _, d := range dones {
		d()
	}
	// Recycle the buffers for the commit after next.
	s.mu.Lock()
	s.spareBuf, s.spareDone = buf[:0], clearDones(dones)
	s.mu.Unlock()
	return nil
}

func clearDones(d []func()) []func() {
	clear(d)
	return d[:0]
}

func (s *Spool) rotate() error {
	if err := s.wfile.Close(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.wseg++
	f, err := os.OpenFile(s.segPath(s.wseg), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.wfile = f
	return syncDir(s.opts.Dir)
}

// Next reads committed records from the read position: it waits for the
// first one, then gathers up to maxReadings, waiting at most linger for
// more to arrive. Once stop is closed it returns what it has gathered, and
// ok=false when that is nothing.
func (s *Spool) Next(stop <-chan struct{}, maxReadings int, linger time.Duration, dst *SpoolBatch) (ok bool, err error) {
	dst.Lines, dst.Readings, dst.Bytes = dst.Lines[:0], 0, 0
	var deadline <-chan time.Time
	for {
		s.mu.Lock()
		committed, newData := s.committed, s.newData
		s.mu.Unlock()
		for s.rpos.less(committed) && dst.Readings < maxReadings {
			if err := s.readOne(committed, dst); err != nil {
				return false, err
			}
		}
		if dst.Readings >= maxReadings {
			return true, nil
		}
		if dst.Readings > 0 && deadline == nil {
			t := time.NewTimer(linger)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-stop:
			// Hand over what was gathered: it has left the reader's
			// position, and the caller may still write it.
			return dst.Readings > 0, nil
		case <-deadline:
			return true, nil
		case <-newData:
		}
	}
}

// readOne appends the record at the read position to dst, moving to the
// next segment at the end of one.
func (s *Spool) readOne(committed SpoolPos, dst *SpoolBatch) error {
	if s.rfile == nil {
		f, err := os.Open(s.segPath(s.rpos.Seg))
		if err != nil {
			return fmt.Errorf("spool read: %w", err)
		}
		if _, err := f.Seek(s.rpos.Off, io.SeekStart); err != nil {
			f.Close()
			return fmt.Errorf("spool read: %w", err)
		}
		s.rfile = f
		if s.rbuf == nil {
			s.rbuf = bufio.NewReaderSize(f, 1<<20)
		} else {
			s.rbuf.Reset(f)
		}
	}
	if s.rpos.Seg < committed.Seg {
		// Stop at the true end of an older segment, which may run past
		// any offset we know of.
		payload, n, err := s.readPayload()
		if err == io.EOF || (err != nil && errors.Is(err, errBadRecord)) {
			if err != io.EOF {
				s.m.Corrupt.Inc()
				s.log.Error("spool: corrupt record; skipping the rest of its segment", "segment", s.rpos.Seg, "offset", s.rpos.Off, "err", err)
			}
			s.rfile.Close()
			s.rfile = nil
			s.rpos = SpoolPos{Seg: s.rpos.Seg + 1}
			dst.End = s.rpos
			return nil
		}
		if err != nil {
			return err
		}
		s.take(payload, n, dst)
		return nil
	}
	payload, n, err := s.readPayload()
	if err != nil {
		return fmt.Errorf("spool read at %d/%d: %w", s.rpos.Seg, s.rpos.Off, err)
	}
	s.take(payload, n, dst)
	return nil
}

// readPayload reads the next record into the reader's reused buffer; take
// copies it out before the next read.
func (s *Spool) readPayload() ([]byte, int, error) {
	payload, n, buf, err := readRecord(s.rbuf, s.rrec)
	s.rrec = buf
	return payload, n, err
}

// CaughtUp reports whether the reader has read everything committed. Only
// the reader's goroutine may call it.
func (s *Spool) CaughtUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.rpos.less(s.committed)
}

func (s *Spool) take(payload []byte, n int, dst *SpoolBatch) {
	cnt, k := binary.Uvarint(payload)
	dst.Lines = append(dst.Lines, payload[k:]...)
	dst.Readings += int(cnt)
	dst.Bytes += int64(n)
	s.rpos.Off += int64(n)
	dst.End = s.rpos
}

// Consumed records that a batch is stored: the cursor moves past it
// (durably) and segments wholly before it are deleted.
func (s *Spool) Consumed(b *SpoolBatch) error {
	tmp := filepath.Join(s.opts.Dir, cursorFile+".tmp")
	if err := writeFileSync(tmp, fmt.Appendf(nil, "%d %d\n", b.End.Seg, b.End.Off)); err != nil {
		return fmt.Errorf("spool cursor: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.opts.Dir, cursorFile)); err != nil {
		return fmt.Errorf("spool cursor: %w", err)
	}
	segs, err := s.segments()
	if err != nil {
		return err
	}
	for _, seg := range segs {
		if seg < b.End.Seg {
			if err := os.Remove(s.segPath(seg)); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
		}
	}
	s.mu.Lock()
	s.backlog -= b.Bytes
	s.readings -= int64(b.Readings)
	if s.backlog < s.opts.MaxBytes {
		s.m.Full.Set(0)
	}
	s.publishGauges()
	s.space.Broadcast()
	s.mu.Unlock()
	return nil
}

// publishGauges runs under mu.
func (s *Spool) publishGauges() {
	s.m.Bytes.Set(float64(s.backlog))
	s.m.Readings.Set(float64(s.readings))
}

// Backlog is the bytes and readings not yet stored, and whether intake is
// waiting at the cap.
func (s *Spool) Backlog() (bytes, readings int64, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.backlog, s.readings, s.backlog >= s.opts.MaxBytes
}

// Close releases the files; call after Run and the reader have stopped.
func (s *Spool) Close() error {
	var errs []error
	if s.wfile != nil {
		errs = append(errs, s.wfile.Close())
	}
	if s.rfile != nil {
		errs = append(errs, s.rfile.Close())
	}
	return errors.Join(errs...)
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a new or renamed file's directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: sync dir: %w", err)
	}
	return nil
}
