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
	"sync/atomic"
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
	// CommitIntervalMax is how far the wait may stretch while messages
	// come too seldom to share a commit: each commit that carries fewer
	// than commitQuorum/2 messages doubles the wait, up to this, and one
	// that carries commitQuorum or more puts it back to CommitInterval.
	// While it is stretched, commitQuorum messages waiting start a
	// commit at once, so a broker's in-flight window (Mosquitto's
	// default is 20 messages) never fills. Equal to CommitInterval, the
	// wait never stretches.
	CommitIntervalMax time.Duration `yaml:"commit_interval_max"`
}

// commitQuorum is how many waiting messages start a commit at once while
// the commit wait is stretched, and how many in one commit end the
// stretch: half of Mosquitto's default in-flight window of 20.
const commitQuorum = 8

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
	if o.CommitIntervalMax <= 0 {
		o.CommitIntervalMax = 20 * time.Millisecond
	}
	o.CommitIntervalMax = max(o.CommitIntervalMax, o.CommitInterval)
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
	// Lost counts readings in damaged records that were skipped.
	Lost prometheus.Counter
	// WriteFailing is 1 while commits fail (a full disk): intake is held
	// back as at the cap until a retry succeeds.
	WriteFailing prometheus.Gauge
	// FreeBytes is the space left on the spool's filesystem.
	FreeBytes prometheus.Gauge
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
		Corrupt: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskmon_spool_corrupt_records_total", Help: "Damaged stretches inside the spool that failed their checksum and were skipped up to the next good record."}),
		Lost:    prometheus.NewCounter(prometheus.CounterOpts{Name: "riskmon_spool_lost_readings_total", Help: "Readings in damaged spool records that were skipped and never reached InfluxDB."}),
		WriteFailing: prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskmon_spool_write_failing",
			Help: "1 while the spool cannot write (a full disk, say): nothing is acknowledged and intake waits until a retry succeeds."}),
		FreeBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskmon_spool_filesystem_free_bytes", Help: "Space left for unprivileged writes on the spool's filesystem."}),
	}
	if reg != nil {
		reg.MustRegister(m.Bytes, m.Readings, m.Full, m.Cap, m.Commits, m.CommitDuration, m.Torn, m.Corrupt, m.Lost, m.WriteFailing, m.FreeBytes)
	}
	return m
}

// Spool is a durable FIFO of line-protocol records with group commit.
type Spool struct {
	opts SpoolOptions
	m    *SpoolMetrics
	log  *slog.Logger

	mu        sync.Mutex
	space     *sync.Cond // signalled when backlog shrinks, a failed commit heals or the spool closes
	pending   []byte
	dones     []func()
	spareBuf  []byte
	spareDone []func()
	kick      chan struct{}
	// arm tells Run that a record waits for a commit where none did, so
	// that the commit timer runs only then.
	arm   chan struct{}
	wakes atomic.Uint64 // Run's wake-ups, which an idle spool should not have
	// wait is the commit wait now, CommitInterval or stretched (Run
	// alone sets it); stretched tells appenders it is.
	wait      time.Duration
	stretched atomic.Bool
	closed    bool
	backlog   int64 // bytes appended (pending or committed) and not consumed
	readings  int64
	committed SpoolPos
	newData   chan struct{} // closed and replaced on every commit
	// writeErr is the error of the last commit while commits fail, and
	// writeSince when they started failing; intake waits meanwhile.
	writeErr   error
	writeSince time.Time
	// damage holds reports of skipped records not yet taken by TakeDamage.
	damage []SpoolDamage

	// Only the committer touches these.
	wseg  uint64
	wfile *os.File
	wsize int64 // bytes of wfile known to be durable

	// Only the reader touches these.
	rpos  SpoolPos
	rfile *os.File
	rbuf  *bufio.Reader
	rrec  []byte
	// skips maps the start of each damaged stretch found when the spool
	// was opened to the offset of the next good record, so the reader
	// steps over it without reporting it twice.
	skips map[SpoolPos]int64
	// cursorErr is set while the cursor file cannot be written.
	cursorErr bool
	// consumed is where the stored records end; cursorAt is when the
	// cursor file last took it, and cursorLag says it has not since.
	consumed  SpoolPos
	cursorAt  time.Time
	cursorLag bool

	// Stored marks (under mu): records appended with a tag, by the end
	// of each in bytes appended since the spool opened (counting from
	// the backlog found then). Once the bytes consumed or skipped reach
	// a mark, onStored gets its tag: everything up to it is stored.
	onStored func(tag uint64)
	marks    []storedMark
	appended int64
	passed   int64
}

// storedMark is one tagged record's end.
type storedMark struct {
	end int64
	tag uint64
}

// SpoolDamage reports a stretch of a segment that failed its checksum and
// was skipped: what was lost and where.
type SpoolDamage struct {
	Seg uint64
	Off int64
	// Bytes is the length of the stretch skipped; the record after it
	// (if any) passed its checksum and was kept.
	Bytes int64
	// Readings is the number of readings lost: the lines of the damaged
	// record(s), which hold one reading each.
	Readings int64
	// AtEnd is set when the damage ran to the end of the newest segment
	// and was cut off there, like a torn write.
	AtEnd bool
	Err   string
	// whole is set when the stretch is exactly one record by its own
	// length field.
	whole bool
}

func (d SpoolDamage) String() string {
	return fmt.Sprintf("segment %d offset %d: %d bytes, %d readings (%s)", d.Seg, d.Off, d.Bytes, d.Readings, d.Err)
}

// OpenSpool opens or creates the spool in opts.Dir. A torn record at its
// end is cut off; a damaged record elsewhere is skipped up to the next
// record with a good checksum and reported (TakeDamage).
func OpenSpool(opts SpoolOptions, m *SpoolMetrics, log *slog.Logger) (*Spool, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{opts: opts, m: m, log: log, kick: make(chan struct{}, 1), arm: make(chan struct{}, 1), newData: make(chan struct{}), skips: map[SpoolPos]int64{}}
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
			s.wsize = end
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
	s.rpos, s.consumed = cur, cur
	f, err := os.OpenFile(s.segPath(s.wseg), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s.wfile = f
	if err := syncDir(opts.Dir); err != nil {
		return nil, err
	}
	s.appended = s.backlog
	s.publishGauges()
	if s.readings > 0 {
		log.Info("spool holds readings not yet stored; replaying them", "readings", s.readings, "bytes", s.backlog)
	}
	s.checkFreeSpace()
	return s, nil
}

// checkFreeSpace warns when the cap is larger than the room the spool has
// (free space plus what it already uses): the disk, not the cap, would
// then be what holds intake back.
func (s *Spool) checkFreeSpace() {
	free, ok := freeBytes(s.opts.Dir)
	if !ok {
		return
	}
	s.m.FreeBytes.Set(float64(free))
	s.mu.Lock()
	room := free + uint64(max(s.backlog, 0))
	s.mu.Unlock()
	if room < uint64(s.opts.MaxBytes) {
		s.log.Warn("spool.max_bytes is larger than the space its filesystem has left: during a long storage outage the disk fills before the cap; intake then waits and a storage_backlog alert fires, but give the spool its own room",
			"dir", s.opts.Dir, "spool.max_bytes", s.opts.MaxBytes, "free_bytes", free)
	}
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
// end of the last good one, with the bytes and readings of the good
// records. A bad record is skipped up to the next record whose checksum
// holds, and reported as damage. When no good record follows it in the
// newest segment, it is a write a crash interrupted and the file is cut
// there: its message was never acknowledged, since acks wait for the
// fsync (a record of full length may still have been damaged after its
// fsync, so that case is reported as possible loss as well).
func (s *Spool) scan(seg uint64, from int64, last bool) (end, bytes, readings int64, err error) {
	f, err := os.Open(s.segPath(seg))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("spool: %w", err)
	}
	size := st.Size()
	pos := from
	end = from
	for pos < size {
		if _, err := f.Seek(pos, io.SeekStart); err != nil {
			return 0, 0, 0, fmt.Errorf("spool: %w", err)
		}
		r := bufio.NewReaderSize(f, 1<<20)
		var buf []byte
		var rerr error
		for {
			var n int
			var payload []byte
			payload, n, buf, rerr = readRecord(r, buf)
			if rerr != nil {
				break
			}
			cnt, _ := binary.Uvarint(payload)
			pos += int64(n)
			end = pos
			bytes += int64(n)
			readings += int64(cnt)
		}
		if rerr == io.EOF {
			break
		}
		if !errors.Is(rerr, errBadRecord) {
			return 0, 0, 0, fmt.Errorf("spool: read segment %d: %w", seg, rerr)
		}
		d, next, found, err := s.resync(f, seg, pos, size, rerr)
		if err != nil {
			return 0, 0, 0, err
		}
		if !found && last {
			s.m.Torn.Inc()
			s.log.Warn("spool: cut off a torn record at the end of the spool (a crash interrupted its write; it was never acknowledged)",
				"segment", seg, "offset", pos, "bytes", size-pos, "err", rerr)
			if d.whole {
				// A whole record whose checksum fails: a torn write, or
				// damage to an acknowledged record. Say so.
				d.AtEnd = true
				s.report(d)
			}
			if terr := os.Truncate(s.segPath(seg), pos); terr != nil {
				return 0, 0, 0, fmt.Errorf("spool: truncate torn tail: %w", terr)
			}
			return end, bytes, readings, nil
		}
		s.report(d)
		s.skips[SpoolPos{Seg: seg, Off: pos}] = next
		pos = next
		end = next
	}
	return end, bytes, readings, nil
}

// resync looks for the next good record after the bad one at off, up to
// limit, and describes the stretch in between. found is false when none
// follows: the damage runs to limit.
func (s *Spool) resync(f *os.File, seg uint64, off, limit int64, cause error) (d SpoolDamage, next int64, found bool, err error) {
	data := make([]byte, limit-off)
	if _, err := f.ReadAt(data, off); err != nil && err != io.EOF {
		return d, 0, false, fmt.Errorf("spool: read segment %d: %w", seg, err)
	}
	i := nextRecord(data, 1)
	found = i >= 0
	if !found {
		i = len(data)
	}
	whole := i > recordHeader && int(binary.LittleEndian.Uint32(data[0:4])) == i-recordHeader
	return SpoolDamage{Seg: seg, Off: off, Bytes: int64(i), Readings: damagedReadings(data[:i]), Err: cause.Error(), whole: whole},
		off + int64(i), found, nil
}

// nextRecord is the offset in data, from start on, of the first record
// whose length fits and whose checksum holds, or -1.
func nextRecord(data []byte, start int) int {
	for i := start; i+recordHeader <= len(data); i++ {
		size := binary.LittleEndian.Uint32(data[i : i+4])
		if size == 0 || size > maxRecord || int64(i)+recordHeader+int64(size) > int64(len(data)) {
			continue
		}
		payload := data[i+recordHeader : i+recordHeader+int(size)]
		if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(data[i+4:i+8]) {
			continue
		}
		if _, k := binary.Uvarint(payload); k <= 0 {
			continue
		}
		return i
	}
	return -1
}

// damagedReadings counts the readings in a damaged stretch. When the
// stretch is exactly one record by its own length field, its count is
// taken if it agrees with its lines; otherwise every line of line
// protocol in the stretch is one reading. A stretch shorter than a
// header (a torn tail) held no whole reading.
func damagedReadings(data []byte) int64 {
	if len(data) <= recordHeader {
		return 0
	}
	lines := int64(strings.Count(string(data[recordHeader:]), "\n"))
	if size := binary.LittleEndian.Uint32(data[0:4]); int(size) == len(data)-recordHeader {
		// The writer's own count, unless the flip hit it: a flipped
		// newline moves the line count by one, a flipped count by more.
		if cnt, k := binary.Uvarint(data[recordHeader:]); k > 0 && int64(cnt) >= lines-1 && int64(cnt) <= lines+1 {
			return int64(cnt)
		}
	}
	return lines
}

// report records a damaged stretch: counted, logged and kept for
// TakeDamage, which raises the alert.
func (s *Spool) report(d SpoolDamage) {
	s.m.Corrupt.Inc()
	s.m.Lost.Add(float64(d.Readings))
	s.log.Error("spool: damaged record skipped; the records after it are kept",
		"segment", d.Seg, "offset", d.Off, "bytes", d.Bytes, "readings_lost", d.Readings, "at_end", d.AtEnd, "err", d.Err)
	s.mu.Lock()
	s.damage = append(s.damage, d)
	s.mu.Unlock()
}

// TakeDamage returns the damage found since the last call.
func (s *Spool) TakeDamage() []SpoolDamage {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.damage
	s.damage = nil
	return d
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
	full := s.backlog >= s.opts.MaxBytes || s.closed || s.writeErr != nil
	s.mu.Unlock()
	if full {
		return false
	}
	// Between the check and the append the cap may be passed by one
	// record; that is fine, the cap is a bound on waiting, not on bytes.
	return s.appendRecord(lines, n, nil, 0, false) == nil
}

// Append adds one record of n readings; done runs once it is durable.
// It waits while the spool is at its cap or cannot write, and fails once
// it is closed.
func (s *Spool) Append(lines []byte, n int, done func()) error {
	return s.appendRecord(lines, n, done, 0, true)
}

// OnStored sets what learns that tagged records are stored (see
// AppendTagged). Call it before the first append.
func (s *Spool) OnStored(fn func(tag uint64)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onStored = fn
}

// AppendTagged is Append for a record whose storage someone waits for:
// once the forwarder has stored it and every record before it (or the
// reader skipped them as damaged, which it reports), the OnStored
// function gets tag. Tags arrive in the order of their records. A tag of
// 0 is none.
func (s *Spool) AppendTagged(lines []byte, n int, done func(), tag uint64) error {
	return s.appendRecord(lines, n, done, tag, true)
}

// pass counts bytes consumed or skipped and returns the tags now stored.
// Called with mu held.
func (s *Spool) pass(bytes int64) []uint64 {
	s.passed += bytes
	k := 0
	for k < len(s.marks) && s.marks[k].end <= s.passed {
		k++
	}
	if k == 0 || s.onStored == nil {
		return nil
	}
	tags := make([]uint64, k)
	for i := range k {
		tags[i] = s.marks[i].tag
	}
	s.marks = s.marks[k:]
	return tags
}

// tell hands stored tags on, outside mu.
func (s *Spool) tell(tags []uint64) {
	for _, t := range tags {
		s.onStored(t)
	}
}

func (s *Spool) appendRecord(lines []byte, n int, done func(), tag uint64, wait bool) error {
	var cnt [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(cnt[:], uint64(n))
	size := k + len(lines)
	s.mu.Lock()
	for wait && (s.backlog >= s.opts.MaxBytes || s.writeErr != nil) && !s.closed {
		if s.backlog >= s.opts.MaxBytes {
			s.m.Full.Set(1)
		}
		s.space.Wait()
	}
	if s.closed {
		s.mu.Unlock()
		return errors.New("spool is closed")
	}
	var hdr [recordHeader]byte
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(size))
	binary.LittleEndian.PutUint32(hdr[4:8], crc32.Update(crc32.Checksum(cnt[:k], crcTable), crcTable, lines))
	first := len(s.pending) == 0
	s.pending = append(s.pending, hdr[:]...)
	s.pending = append(s.pending, cnt[:k]...)
	s.pending = append(s.pending, lines...)
	// One slot per record, nil or not, so that a partial commit knows
	// whose records it made durable.
	s.dones = append(s.dones, done)
	s.backlog += int64(recordHeader + size)
	s.readings += int64(n)
	s.appended += int64(recordHeader + size)
	if tag != 0 && s.onStored != nil {
		s.marks = append(s.marks, storedMark{end: s.appended, tag: tag})
	}
	kick := len(s.pending) >= s.opts.CommitBytes || (len(s.dones) >= commitQuorum && s.stretched.Load())
	s.mu.Unlock()
	if kick {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	if first {
		// A full channel already holds a signal Run has yet to take.
		select {
		case s.arm <- struct{}{}:
		default:
		}
	}
	return nil
}

// writeRetry is how often a failed commit is tried again.
const writeRetry = time.Second

// Run group-commits until ctx ends, then commits what is pending and
// stops accepting records. A commit that fails (a full disk, say) does
// not stop it: the records stay in memory unacknowledged, intake waits as
// at the cap, and the commit is retried every writeRetry until it
// succeeds. Nothing is acknowledged that is not on disk, and nothing
// needs a restart once space returns.
//
// The commit timer runs only while records wait: the first record after
// a commit arms it for CommitInterval, and the records appended meanwhile
// share its fsync as they did with a timer running free. An idle spool
// then wakes only every statEvery, not 200 times a second.
func (s *Spool) Run(ctx context.Context) error {
	s.wait = s.opts.CommitInterval
	commitT := time.NewTimer(s.wait)
	commitT.Stop()
	armed := false
	stat := time.NewTicker(statEvery)
	defer stat.Stop()
	var retryAt time.Time
	for {
		select {
		case <-ctx.Done():
			commitT.Stop()
			s.mu.Lock()
			s.closed = true
			s.space.Broadcast()
			s.mu.Unlock()
			if err := s.commit(); err != nil {
				// Unacknowledged: the broker delivers them again.
				return fmt.Errorf("spool: records left unacknowledged at shutdown: %w", err)
			}
			return nil
		case <-s.arm:
			s.wakes.Add(1)
			if !armed {
				commitT.Reset(s.wait)
				armed = true
			}
			continue
		case <-stat.C:
			s.wakes.Add(1)
			if free, ok := freeBytes(s.opts.Dir); ok {
				s.m.FreeBytes.Set(float64(free))
			}
			continue
		case <-commitT.C:
			armed = false
		case <-s.kick:
		}
		s.wakes.Add(1)
		now := time.Now()
		if !retryAt.IsZero() && now.Before(retryAt) {
			// Failing: the timer is armed for the retry.
			continue
		}
		n, err := s.commitCount()
		if err != nil {
			s.commitFailed(err, now)
			retryAt = now.Add(writeRetry)
			// Stopped first, so that an early firing still in the
			// channel cannot cut the wait short.
			commitT.Stop()
			commitT.Reset(writeRetry)
			armed = true
			continue
		}
		if !retryAt.IsZero() {
			retryAt = time.Time{}
			s.commitHealed(now)
		}
		s.stretch(n)
	}
}

// stretch sets the commit wait after a commit of n messages (see
// SpoolOptions.CommitIntervalMax). At a few hundred messages a second
// each message had a commit of its own, and its fsync was most of what
// the message cost riskmon; stretched to 20 ms, four share one.
func (s *Spool) stretch(n int) {
	switch {
	case n == 0:
		return
	case n >= commitQuorum:
		s.wait = s.opts.CommitInterval
	case n < commitQuorum/2:
		s.wait = min(2*s.wait, s.opts.CommitIntervalMax)
	}
	s.stretched.Store(s.wait > s.opts.CommitInterval)
}

// statEvery is how often Run refreshes the free space gauge.
const statEvery = 10 * time.Second

// commitFailed enters or stays in the failing state. The segment is
// already cut back to its durable end; a segment that holds records is
// closed and a new one started, so that once the forwarder has stored
// the old one it can be deleted and free its space: on a disk filled by
// the spool itself, that is what lets it heal.
func (s *Spool) commitFailed(err error, now time.Time) {
	s.mu.Lock()
	first := s.writeErr == nil
	s.writeErr = err
	if first {
		s.writeSince = now
	}
	pending := len(s.pending)
	s.mu.Unlock()
	s.m.WriteFailing.Set(1)
	free, _ := freeBytes(s.opts.Dir)
	s.m.FreeBytes.Set(float64(free))
	if first {
		s.log.Error("spool cannot write; nothing more is acknowledged and intake waits until it can (the broker holds the messages); retrying",
			"dir", s.opts.Dir, "pending_bytes", pending, "free_bytes", free, "retry_every", writeRetry, "err", err)
	}
	if s.wsize > 0 {
		if rerr := s.rotate(); rerr != nil {
			s.log.Warn("spool: could not start a new segment while writes fail", "err", rerr)
			return
		}
		s.mu.Lock()
		s.committed = SpoolPos{Seg: s.wseg}
		close(s.newData)
		s.newData = make(chan struct{})
		s.mu.Unlock()
	}
}

// commitHealed leaves the failing state after a successful commit.
func (s *Spool) commitHealed(now time.Time) {
	s.mu.Lock()
	since := s.writeSince
	s.writeErr, s.writeSince = nil, time.Time{}
	s.space.Broadcast()
	s.mu.Unlock()
	s.m.WriteFailing.Set(0)
	s.log.Info("spool writes again; intake resumes", "failed_for", now.Sub(since).Round(time.Second))
}

// WriteFailing is the error of the last commit while commits fail, and
// when they started failing; nil once the spool writes again.
func (s *Spool) WriteFailing() (since time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeSince, s.writeErr
}

// commit writes the pending records, fsyncs and then acknowledges them.
// On failure the records go back to the front of the pending ones and
// the segment is cut back to what was durable before.
func (s *Spool) commit() error {
	_, err := s.commitCount()
	return err
}

// commitCount is commit, reporting how many records it made durable.
func (s *Spool) commitCount() (int, error) {
	s.mu.Lock()
	if len(s.pending) == 0 {
		s.mu.Unlock()
		return 0, nil
	}
	buf, dones := s.pending, s.dones
	s.pending, s.dones = s.spareBuf[:0], s.spareDone[:0]
	s.spareBuf, s.spareDone = nil, nil
	s.mu.Unlock()

	start := time.Now()
	if err := s.writeDurable(buf); err != nil {
		// Keep what fitted: on a disk with less room than the pending
		// records, the whole-or-nothing retry would never succeed.
		k, n := s.salvage(buf)
		for _, d := range dones[:k] {
			if d != nil {
				d()
			}
		}
		s.mu.Lock()
		if k > 0 {
			s.committed = SpoolPos{Seg: s.wseg, Off: s.wsize}
			close(s.newData)
			s.newData = make(chan struct{})
		}
		s.pending = append(slices.Clone(buf[n:]), s.pending...)
		s.dones = append(slices.Clone(dones[k:]), s.dones...)
		s.mu.Unlock()
		return k, err
	}
	s.m.CommitDuration.Observe(time.Since(start).Seconds())
	s.m.Commits.Inc()
	if s.wsize >= s.opts.SegmentBytes {
		if err := s.rotate(); err != nil {
			// The records are durable; acknowledge them and try the
			// new segment again at the next commit.
			s.log.Warn("spool: could not start a new segment", "err", err)
		}
	}

	s.mu.Lock()
	s.committed = SpoolPos{Seg: s.wseg, Off: s.wsize}
	close(s.newData)
	s.newData = make(chan struct{})
	s.publishGauges()
	s.mu.Unlock()
	for _, d := range dones {
		if d != nil {
			d()
		}
	}
	records := len(dones)
	// Recycle the buffers for the commit after next.
	s.mu.Lock()
	s.spareBuf, s.spareDone = buf[:0], clearDones(dones)
	s.mu.Unlock()
	return records, nil
}

// salvage writes and fsyncs the longest run of whole records from the
// front of buf that the disk takes, after a write of all of buf failed,
// and returns how many records and bytes are now durable.
func (s *Spool) salvage(buf []byte) (records int, bytes int) {
	// The records' ends, to try the longest prefix first and halve.
	var ends []int
	for off := 0; off+recordHeader <= len(buf); {
		off += recordHeader + int(binary.LittleEndian.Uint32(buf[off:off+4]))
		ends = append(ends, off)
	}
	for k := len(ends) / 2; k > 0; k /= 2 {
		if s.writeDurable(buf[:ends[k-1]]) == nil {
			return k, ends[k-1]
		}
	}
	return 0, 0
}

// writeDurable appends buf to the write segment and fsyncs it. On any
// error the segment is cut back to its last durable size, so a retry
// appends whole records after whole records; after a failed fsync the
// state of the page cache is unknown, and the cut discards exactly what
// it may have lost.
func (s *Spool) writeDurable(buf []byte) error {
	_, err := s.wfile.Write(buf)
	if err == nil {
		err = s.wfile.Sync()
		if err != nil {
			err = fmt.Errorf("spool fsync: %w", err)
		}
	} else {
		err = fmt.Errorf("spool write: %w", err)
	}
	if err != nil {
		if terr := s.wfile.Truncate(s.wsize); terr != nil {
			return errors.Join(err, fmt.Errorf("spool: cut back to %d bytes: %w", s.wsize, terr))
		}
		return err
	}
	s.wsize += int64(len(buf))
	return nil
}

func clearDones(d []func()) []func() {
	clear(d)
	return d[:0]
}

func (s *Spool) rotate() error {
	f, err := os.OpenFile(s.segPath(s.wseg+1), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := s.wfile.Close(); err != nil {
		s.log.Warn("spool: closing a full segment", "err", err)
	}
	s.wseg++
	s.wfile, s.wsize = f, 0
	if err := syncDir(s.opts.Dir); err != nil {
		// The new segment is in use either way; a crash that loses its
		// name loses no acknowledged record, as none is in it yet.
		s.log.Warn("spool: new segment's directory entry not synced", "err", err)
	}
	return nil
}

// Next reads committed records from the read position: it waits for the
// first one, then gathers up to maxReadings, waiting at most linger for
// more to arrive. Once stop is closed it returns what it has gathered, and
// ok=false when that is nothing. Damaged records are skipped on the way.
func (s *Spool) Next(stop <-chan struct{}, maxReadings int, linger time.Duration, dst *SpoolBatch) (ok bool, err error) {
	dst.Lines, dst.Readings, dst.Bytes = dst.Lines[:0], 0, 0
	var deadline <-chan time.Time
	for {
		s.mu.Lock()
		committed, newData := s.committed, s.newData
		s.mu.Unlock()
		from := s.rpos
		for s.rpos.less(committed) && dst.Readings < maxReadings {
			if err := s.readOne(committed, dst); err != nil {
				return false, err
			}
		}
		if dst.Readings == 0 && from != s.rpos {
			// The reader moved past an empty segment end or a damaged
			// stretch with nothing to write: everything before it is
			// stored, so let its segments go now rather than with the
			// next batch, which on a full disk may never come.
			dst.End = s.rpos
			if err := s.Consumed(dst); err != nil {
				return false, err
			}
			dst.Bytes = 0
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
// next segment at the end of one, and past damaged records.
func (s *Spool) readOne(committed SpoolPos, dst *SpoolBatch) error {
	if s.rfile == nil {
		if err := s.openReader(); err != nil {
			return err
		}
	}
	older := s.rpos.Seg < committed.Seg
	payload, n, err := s.readPayload()
	switch {
	case err == nil:
		s.take(payload, n, dst)
		return nil
	case err == io.EOF && older:
		// The true end of an older segment, which may run past any
		// offset we know of.
		s.nextSegment(dst)
		return nil
	case err != io.EOF && !errors.Is(err, errBadRecord):
		return fmt.Errorf("spool read at %d/%d: %w", s.rpos.Seg, s.rpos.Off, err)
	}
	// A bad record, or a short one before the committed end.
	if next, ok := s.skips[s.rpos]; ok {
		// Found and reported when the spool was opened; its bytes were
		// never counted in the backlog.
		delete(s.skips, s.rpos)
		return s.seekReader(next, dst)
	}
	limit := committed.Off
	if older {
		st, serr := s.rfile.Stat()
		if serr != nil {
			return fmt.Errorf("spool read: %w", serr)
		}
		limit = st.Size()
	}
	cause := err
	if cause == io.EOF {
		cause = fmt.Errorf("%w: segment ends before its committed end %d", errBadRecord, limit)
	}
	d, next, found, rerr := s.resync(s.rfile, s.rpos.Seg, s.rpos.Off, limit, cause)
	if rerr != nil {
		return rerr
	}
	s.report(d)
	// These bytes and readings were counted in the backlog when appended.
	s.mu.Lock()
	s.backlog -= d.Bytes
	s.readings -= d.Readings
	tags := s.pass(d.Bytes)
	s.publishGauges()
	s.mu.Unlock()
	s.tell(tags)
	if !found && older {
		s.nextSegment(dst)
		return nil
	}
	return s.seekReader(next, dst)
}

func (s *Spool) openReader() error {
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
	return nil
}

// seekReader moves the reader to off in its segment.
func (s *Spool) seekReader(off int64, dst *SpoolBatch) error {
	if _, err := s.rfile.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("spool read: %w", err)
	}
	s.rbuf.Reset(s.rfile)
	s.rpos.Off = off
	dst.End = s.rpos
	return nil
}

// nextSegment moves the reader to the start of the next segment.
func (s *Spool) nextSegment(dst *SpoolBatch) {
	s.rfile.Close()
	s.rfile = nil
	s.rpos = SpoolPos{Seg: s.rpos.Seg + 1}
	dst.End = s.rpos
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

// Consumed records that a batch is stored: segments wholly before it are
// deleted and the cursor moves past it. Segments go first, so that on a
// full disk their space comes back even when the cursor cannot be
// written; a cursor left behind only makes the next start write stored
// records again, which overwrite themselves. Neither failure stops the
// forwarder: the cursor is retried at the next batch, the deletion when
// a batch next ends in a later segment.
//
// For the same reason the cursor file is rewritten at most every
// cursorEvery, when a batch ends in another segment than the last, and at
// Close, not after every batch: each rewrite is a file created, fsync'd
// and renamed, and at a low rate, where every message is a batch of its
// own, that was half of riskmon's CPU. A crash so writes again at most
// the batches of the last second.
func (s *Spool) Consumed(b *SpoolBatch) error {
	crossed := b.End.Seg != s.consumed.Seg
	if crossed {
		s.deleteBefore(b.End.Seg)
	}
	s.consumed = b.End
	s.cursorLag = true
	if now := time.Now(); crossed || s.cursorErr || now.Sub(s.cursorAt) >= cursorEvery || now.Before(s.cursorAt) {
		s.writeCursor(now)
	}
	s.mu.Lock()
	s.backlog -= b.Bytes
	s.readings -= int64(b.Readings)
	if s.backlog < s.opts.MaxBytes {
		s.m.Full.Set(0)
	}
	tags := s.pass(b.Bytes)
	s.publishGauges()
	s.space.Broadcast()
	s.mu.Unlock()
	s.tell(tags)
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

// deleteBefore deletes the segments before seg, all consumed.
func (s *Spool) deleteBefore(seg uint64) {
	segs, err := s.segments()
	if err != nil {
		s.log.Warn("spool: cannot list segments to delete consumed ones", "err", err)
		return
	}
	for _, sg := range segs {
		if sg < seg {
			if err := os.Remove(s.segPath(sg)); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.log.Warn("spool: cannot delete a consumed segment", "segment", sg, "err", err)
			}
		}
	}
}

// cursorEvery is the longest the cursor file lags the stored records
// while batches keep being stored.
const cursorEvery = time.Second

// writeCursor makes the cursor file say where the stored records end.
func (s *Spool) writeCursor(now time.Time) {
	tmp := filepath.Join(s.opts.Dir, cursorFile+".tmp")
	err := writeFileSync(tmp, fmt.Appendf(nil, "%d %d\n", s.consumed.Seg, s.consumed.Off))
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.opts.Dir, cursorFile))
	}
	switch {
	case err != nil && !s.cursorErr:
		s.cursorErr = true
		s.log.Warn("spool: cannot write the cursor; a restart now would write some stored readings again", "err", err)
	case err == nil && s.cursorErr:
		s.cursorErr = false
		s.log.Info("spool: cursor written again")
	}
	if err == nil {
		s.cursorAt, s.cursorLag = now, false
	}
}

// Close writes the cursor if it lags and releases the files; call after
// Run and the reader have stopped.
func (s *Spool) Close() error {
	if s.cursorLag {
		s.writeCursor(time.Now())
	}
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
