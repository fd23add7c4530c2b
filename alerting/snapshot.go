package alerting

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// A Snapshot is the engine's rule state, compact and serialisable, so
// that a restart or a reload carries on where the engine was: a pending
// alert keeps its on-delay clock, a firing alert its StartsAt (and so its
// id), windows keep their samples. Every rule's state carries a
// fingerprint of the rule's definition; Restore copies it only into a
// rule with the same id and fingerprint, so a changed setpoint or delay
// starts afresh rather than inheriting state it would misread.
type Snapshot struct {
	// Taken is the wall-clock time of the snapshot.
	Taken      time.Time
	Subjects   []SubjectSnapshot
	Groups     []GroupSnapshot
	Composites []CompositeSnapshot
}

// SubjectSnapshot is one sensor's state.
type SubjectSnapshot struct {
	Site, Sensor string
	Kind         sensors.KindID
	Unit         string
	// Last is the device time of the last evaluated reading, Unix ns;
	// Evaluated says whether there was one. Keeping it keeps redelivered
	// readings out of order after a restart.
	Last      int64
	Evaluated bool
	// Received is the wall-clock receive time of the last reading, Unix
	// ns. A reload carries it over so stale timers run on; a restart
	// does not, as the sensor's silence while riskmon was down is not
	// the sensor's (the timers start at the first Tick).
	Received int64
	// Rules are the threshold, early-warning and exposure rules' states.
	Rules []RuleSnapshot
	// Window is the sample ring, oldest first: the device time of the
	// oldest sample (Unix ns), then each sample's distance from the one
	// before (small numbers encode short), and the values. Samples are
	// data, not rule state, so they are kept whenever the sensor still
	// has a window.
	WindowAt []int64
	WindowV  []float64
	// WindowNoise is what the forecast learnt of the sensor's noise:
	// autocorrelation, variance, level and how many fits it rests on.
	WindowNoise []float64
	Exposure    *ExposureSnapshot
}

// RuleSnapshot is one rule's state for one subject. Fields a rule kind
// does not use stay zero and cost nothing in the encoding.
type RuleSnapshot struct {
	ID          string
	Fingerprint uint64
	// LevelsFingerprint is a threshold rule's fingerprint without its
	// timing; zero for other rules.
	LevelsFingerprint uint64
	Level             sensors.Level
	Next              sensors.Level
	Clearing          bool
	ClearTo           sensors.Level
	Since             int64
	NextSince         int64
	ClearSince        int64
	Mark              int64
	Value             float64
	Ref               float64
	Count             uint32
	Hist              [4]uint32
}

// ExposureSnapshot is a toxic gas sensor's dose rings.
type ExposureSnapshot struct {
	TWADose, TWACovered   []float32
	STELDose, STELCovered []float32
	TWAHead, STELHead     int64
	PrevAt                int64
	PrevV                 float64
}

// GroupSnapshot is one sensor group's member values and alerts.
type GroupSnapshot struct {
	Site, ID    string
	Fingerprint uint64
	Members     []MemberSnapshot
	Disagree    RuleSnapshot
	Vote        RuleSnapshot
}

// MemberSnapshot is a group member's latest reading and flags.
type MemberSnapshot struct {
	At                 int64
	V                  float64
	Alarming, Tripping bool
}

// CompositeSnapshot is one composite rule's inputs and alert.
type CompositeSnapshot struct {
	Site, ID    string
	Fingerprint uint64
	Vals        []float64
	At          []int64
	State       RuleSnapshot
	Pending     int64
}

// RestoreStats says what a Restore or Reload carried over.
type RestoreStats struct {
	// Kept counts rules (and groups, composite rules) whose state was
	// copied; Reset those whose definition changed, so they start afresh;
	// Gone state of rules or sensors that no longer exist.
	Kept  int `json:"kept"`
	Reset int `json:"reset"`
	Gone  int `json:"gone"`
	// Closed counts open alerts resolved because their rule changed or
	// went away.
	Closed int `json:"closed"`
}

// Snapshot copies the state of every subject, group and composite rule.
// It takes each shard's lock in turn, so a sensor's state is consistent
// and evaluation elsewhere goes on.
func (e *Engine) Snapshot() *Snapshot { return e.snapshot(true) }

// AlertSnapshot is Snapshot without the sample windows: the alert state
// alone, a fraction of the size, for frequent saves. Windows left out are
// refilled from stored history (Cold, Warm) after a restart.
func (e *Engine) AlertSnapshot() *Snapshot { return e.snapshot(false) }

func (e *Engine) snapshot(windows bool) *Snapshot {
	for {
		set := e.cur.Load()
		snap := &Snapshot{Taken: time.Now().UTC()}
		ok := true
		for _, sh := range set.shards {
			sh.mu.Lock()
			if set.retired {
				ok = false
			} else {
				for _, s := range sh.subjects {
					snap.Subjects = append(snap.Subjects, s.snapshot(windows))
				}
			}
			sh.mu.Unlock()
			if !ok {
				break
			}
		}
		if ok {
			set.snapshotLinked(snap)
			return snap
		}
	}
}

// snapshotLocked is Snapshot with every shard lock of set held.
func (set *ruleSet) snapshotLocked() *Snapshot {
	snap := &Snapshot{Taken: time.Now().UTC()}
	for _, sh := range set.shards {
		for _, s := range sh.subjects {
			snap.Subjects = append(snap.Subjects, s.snapshot(true))
		}
	}
	set.snapshotLinked(snap)
	return snap
}

// snapshotLinked adds the groups and composite rules, under their locks.
func (set *ruleSet) snapshotLinked(snap *Snapshot) {
	for _, g := range set.groups {
		g.mu.Lock()
		gs := GroupSnapshot{Site: g.site, ID: g.id, Fingerprint: g.fp,
			Disagree: exposureSnap(RuleSensorDisagreement, g.dis), Vote: exposureSnap(RuleGroupVote, g.voted)}
		for _, m := range g.members {
			gs.Members = append(gs.Members, MemberSnapshot{At: m.at, V: m.v, Alarming: m.alarming, Tripping: m.tripping})
		}
		g.mu.Unlock()
		snap.Groups = append(snap.Groups, gs)
	}
	for _, c := range set.composites {
		c.mu.Lock()
		snap.Composites = append(snap.Composites, CompositeSnapshot{Site: c.site, ID: c.id, Fingerprint: c.fp,
			Vals: append([]float64(nil), c.vals...), At: append([]int64(nil), c.at...),
			State: compositeSnap(c), Pending: c.pending})
		c.mu.Unlock()
	}
}

func (s *subject) snapshot(windows bool) SubjectSnapshot {
	ss := SubjectSnapshot{Site: s.site, Sensor: s.sensor, Kind: s.kind, Unit: s.unit, Last: s.last, Evaluated: s.evaluated,
		Received: s.received}
	// Idle rules (nothing pending, firing or counted) are left out: a
	// rule without a snapshot starts idle, which is the same state, and
	// a fleet is mostly idle.
	for _, f := range ruleFamilies() {
		ss.Rules = f.snapshot(s, ss.Rules)
	}
	if w := s.win; w != nil && w.n > 0 && windows {
		prev := int64(0)
		for i := int(w.n) - 1; i >= 0; i-- {
			smp := w.back(i)
			ss.WindowAt = append(ss.WindowAt, smp.at-prev)
			ss.WindowV = append(ss.WindowV, smp.v)
			prev = smp.at
		}
		if w.fits > 0 {
			ss.WindowNoise = []float64{float64(w.rho), float64(w.noiseVar), w.level, float64(w.fits)}
		}
	}
	if x := s.exp; x != nil {
		xs := &ExposureSnapshot{TWAHead: x.twaHead, STELHead: x.stelHead, PrevAt: x.prevAt, PrevV: x.prevV}
		for _, b := range x.twa {
			xs.TWADose, xs.TWACovered = append(xs.TWADose, b.dose), append(xs.TWACovered, b.covered)
		}
		for _, b := range x.stel {
			xs.STELDose, xs.STELCovered = append(xs.STELDose, b.dose), append(xs.STELCovered, b.covered)
		}
		ss.Exposure = xs
	}
	return ss
}

func compositeSnap(c *composite) RuleSnapshot {
	rs := exposureSnap(c.id, c.st)
	rs.Clearing, rs.ClearSince = c.clearing != 0, c.clearing
	return rs
}

func exposureSnap(id string, st exposureState) RuleSnapshot {
	return RuleSnapshot{ID: id, Level: st.level, Since: st.since, Value: st.value}
}

// Restore copies a snapshot's state into the engine's rules: each rule's
// state where a rule of the same id and fingerprint exists on the same
// sensor, each sensor's window and exposure rings where it still has
// them. Open alerts whose rule changed or went away are resolved, with
// an event saying so, so that nobody waits for an alert that can no
// longer end. The engine evaluates nothing while Restore runs.
func (e *Engine) Restore(snap *Snapshot) RestoreStats {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	set := e.cur.Load()
	set.lockAll()
	defer set.unlockAll()
	st := e.restoreInto(set, snap, false)
	e.recountActive(set)
	return st
}

// restoreInto copies snap into set, which must not be evaluating: either
// not yet published or with every shard lock held. received says whether
// the receive times come along (a reload, in the same process).
func (e *Engine) restoreInto(set *ruleSet, snap *Snapshot, received bool) RestoreStats {
	var st RestoreStats
	if snap == nil {
		return st
	}
	for i := range snap.Subjects {
		ss := &snap.Subjects[i]
		s := set.subjects[subjectKey{ss.Site, ss.Sensor}]
		if s == nil {
			st.Gone += len(ss.Rules)
			for _, rs := range ss.Rules {
				if rs.valid() {
					e.closeDropped(ss, rs, &st)
				}
			}
			continue
		}
		s.restore(ss, e, &st)
		if received {
			s.received = max(s.received, ss.Received)
		}
	}
	groups := map[[2]string]*group{}
	for _, g := range set.groups {
		groups[[2]string{g.site, g.id}] = g
	}
	for i := range snap.Groups {
		gs := &snap.Groups[i]
		g := groups[[2]string{gs.Site, gs.ID}]
		switch {
		case !gs.Disagree.valid() || !gs.Vote.valid():
			st.Reset++
			continue
		case g == nil:
			st.Gone++
		case g.fp != gs.Fingerprint || len(g.members) != len(gs.Members):
			st.Reset++
		default:
			g.mu.Lock()
			for j, m := range gs.Members {
				g.members[j].at, g.members[j].v, g.members[j].alarming, g.members[j].tripping = m.At, m.V, m.Alarming, m.Tripping
			}
			g.dis, g.voted = exposureFrom(gs.Disagree), exposureFrom(gs.Vote)
			g.mu.Unlock()
			st.Kept++
			continue
		}
		for _, rs := range [...]RuleSnapshot{gs.Disagree, gs.Vote} {
			e.closeGroup(gs.Site, gs.ID, rs, &st)
		}
	}
	comps := map[[2]string]*composite{}
	for _, c := range set.composites {
		comps[[2]string{c.site, c.id}] = c
	}
	for i := range snap.Composites {
		cs := &snap.Composites[i]
		c := comps[[2]string{cs.Site, cs.ID}]
		switch {
		case !cs.State.valid():
			st.Reset++
			continue
		case c == nil:
			st.Gone++
		case c.fp != cs.Fingerprint || len(c.vals) != len(cs.Vals) || len(c.at) != len(cs.At):
			st.Reset++
		default:
			c.mu.Lock()
			copy(c.vals, cs.Vals)
			copy(c.at, cs.At)
			c.st, c.pending, c.clearing = exposureFrom(cs.State), cs.Pending, cs.State.ClearSince
			c.mu.Unlock()
			st.Kept++
			continue
		}
		e.closeGroup(cs.Site, cs.ID, cs.State, &st)
	}
	return st
}

// valid reports whether the entry's levels are levels at all; a damaged
// file must not index past the engine's per-level tables.
func (rs RuleSnapshot) valid() bool {
	return rs.Level <= sensors.LevelBlue && rs.Next <= sensors.LevelBlue && rs.ClearTo <= sensors.LevelBlue
}

func exposureFrom(rs RuleSnapshot) exposureState {
	return exposureState{level: rs.Level, since: rs.Since, value: rs.Value}
}

// restore copies one sensor's snapshot into s.
func (s *subject) restore(ss *SubjectSnapshot, e *Engine, st *RestoreStats) {
	if ss.Evaluated && (!s.evaluated || ss.Last > s.last) {
		s.last, s.evaluated = ss.Last, true
	}
	if s.win != nil && len(ss.WindowAt) == len(ss.WindowV) && len(ss.WindowAt) <= windowCap {
		at := int64(0)
		for i, d := range ss.WindowAt {
			at += d
			s.win.push(at, ss.WindowV[i])
		}
		// A damaged figure would blind the forecast or open it on noise:
		// then the sensor learns its noise again instead.
		if n := ss.WindowNoise; len(n) == 4 && n[1] >= 0 && n[3] >= 0 && finite(n) && n[1] < math.MaxFloat32 {
			s.win.rho = float32(min(max(n[0], 0), 0.9))
			s.win.noiseVar, s.win.level = float32(n[1]), n[2]
			s.win.fits = uint16(min(n[3], longFits))
		}
	}
	if x := s.exp; x != nil && ss.Exposure != nil {
		x.restore(ss.Exposure)
	}
	for _, rs := range ss.Rules {
		if !rs.valid() {
			st.Reset++
			continue
		}
		if kept, known := s.restoreRule(rs); !kept {
			if known {
				st.Reset++
			} else {
				st.Gone++
			}
			e.closeDropped(ss, rs, st)
			continue
		}
		st.Kept++
	}
}

func (x *exposure) restore(xs *ExposureSnapshot) {
	if len(xs.TWADose) != twaBuckets || len(xs.TWACovered) != twaBuckets ||
		len(xs.STELDose) != stelBuckets || len(xs.STELCovered) != stelBuckets {
		return // rings of another size: the averages start afresh
	}
	for i := range x.twa {
		x.twa[i] = doseBucket{xs.TWADose[i], xs.TWACovered[i]}
	}
	for i := range x.stel {
		x.stel[i] = doseBucket{xs.STELDose[i], xs.STELCovered[i]}
	}
	x.twaHead, x.stelHead, x.prevAt, x.prevV = xs.TWAHead, xs.STELHead, xs.PrevAt, xs.PrevV
}

// restoreRule copies one rule's state into the rule of the same id and
// definition, reporting whether there was one, and whether the sensor
// has a rule of that id at all.
func (s *subject) restoreRule(rs RuleSnapshot) (kept, known bool) {
	for _, f := range ruleFamilies() {
		k, kn := f.restore(s, rs)
		if k {
			return true, true
		}
		known = known || kn
	}
	return false, known
}

// closeDropped resolves a sensor alert that was open under a rule that
// changed or went away. A pending alert was never told, so it just ends.
func (e *Engine) closeDropped(ss *SubjectSnapshot, rs RuleSnapshot, st *RestoreStats) {
	if rs.Level == sensors.LevelNone {
		return
	}
	st.Closed++
	at := ss.Last
	if !ss.Evaluated {
		at = rs.Since
	}
	e.record(rs.ID, transition{typ: EventResolved, from: rs.Level})
	e.sink.Emit(Event{
		AlertID: alertID(rs.ID, ss.Site, ss.Sensor, rs.Since), Rule: rs.ID, Site: ss.Site, Sensor: ss.Sensor,
		Kind: ss.Kind, Unit: ss.Unit, Type: EventResolved, PrevLevel: rs.Level, Value: rs.Value,
		At: unixTime(at), StartsAt: unixTime(rs.Since),
		Message: fmt.Sprintf("%s %s at %s: rule %s changed or was removed by a configuration change; this alert is closed and the new rule judges afresh",
			ss.Kind, ss.Sensor, ss.Site, rs.ID),
	})
}

// closeGroup is closeDropped for a group or composite alert, whose
// subject is its own id.
func (e *Engine) closeGroup(site, id string, rs RuleSnapshot, st *RestoreStats) {
	if rs.Level == sensors.LevelNone {
		return
	}
	st.Closed++
	e.record(rs.ID, transition{typ: EventResolved, from: rs.Level})
	e.sink.Emit(Event{
		AlertID: alertID(rs.ID, site, id, rs.Since), Rule: rs.ID, Site: site, Sensor: id,
		Type: EventResolved, PrevLevel: rs.Level, Value: rs.Value, At: unixTime(rs.Since), StartsAt: unixTime(rs.Since),
		Message: fmt.Sprintf("%s at %s: rule %s changed or was removed by a configuration change; this alert is closed", id, site, rs.ID),
	})
}

// recountActive sets the firing-alert gauges from the state, after a
// restore or reload replaced it wholesale. The caller holds every shard
// lock of set, or set is not yet published.
func (e *Engine) recountActive(set *ruleSet) {
	var n [sensors.LevelBlue + 1]int
	count := func(l sensors.Level) {
		if l >= sensors.LevelRed && l <= sensors.LevelBlue {
			n[l]++
		}
	}
	var buf []Alert
	for _, s := range set.subjects {
		for _, f := range ruleFamilies() {
			buf = f.active(s, buf[:0])
			for _, a := range buf {
				if a.State == StateFiring {
					count(a.Level)
				}
			}
		}
	}
	for _, g := range set.groups {
		g.mu.Lock()
		count(g.dis.level)
		count(g.voted.level)
		g.mu.Unlock()
	}
	for _, c := range set.composites {
		c.mu.Lock()
		count(c.st.level)
		c.mu.Unlock()
	}
	for l := sensors.LevelRed; l <= sensors.LevelBlue; l++ {
		e.m.active[l].Set(float64(n[l]))
	}
}

// definition writes out a rule's definition: whatever changes how the
// rule reads its state. %v writes floats exactly (the shortest form that
// reads back the same), so equal strings are equal rules. It runs when
// rules are compiled, not per reading.
func definition(parts ...any) string {
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "%v\x00", p)
	}
	return b.String()
}

// fingerprint hashes a definition into the 64 bits a snapshot keeps.
func fingerprint(parts ...any) uint64 { return hashDefinition(definition(parts...)) }

func hashDefinition(def string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(def))
	return h.Sum64()
}

// interner shares compiled rules between sensors: sensors of a kind
// without setpoints of their own have identical rules, and a rule is
// immutable, so one copy serves them all. It is used while a rule set is
// built and then dropped.
type interner struct {
	threshold map[string]*ThresholdRule
	early     map[string]*earlyRule
	exposure  map[string]*exposureRule
}

func newInterner() *interner {
	return &interner{threshold: map[string]*ThresholdRule{}, early: map[string]*earlyRule{}, exposure: map[string]*exposureRule{}}
}

func (in *interner) thresholdRule(r *ThresholdRule) *ThresholdRule {
	def := r.definition()
	if c, ok := in.threshold[def]; ok {
		return c
	}
	r.fp, r.levelsFP = hashDefinition(def), hashDefinition(r.levelsDefinition())
	in.threshold[def] = r
	return r
}

func (in *interner) earlyRule(r *earlyRule) *earlyRule {
	def := r.definition()
	if c, ok := in.early[def]; ok {
		return c
	}
	r.fp = hashDefinition(def)
	in.early[def] = r
	return r
}

func (in *interner) exposureRule(r *exposureRule) *exposureRule {
	if r == nil {
		return nil
	}
	def := r.definition()
	if c, ok := in.exposure[def]; ok {
		return c
	}
	r.fp = hashDefinition(def)
	in.exposure[def] = r
	return r
}

// snapshotMagic starts a snapshot file, with the format's version.
const snapshotMagic = "riskmon-alert-state 2\n"

// maxSnapshotBytes bounds what ReadSnapshot accepts: far above a fleet
// of a million sensors, far below what would exhaust memory.
const maxSnapshotBytes = 4 << 30

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// WriteSnapshot encodes a snapshot: a version line, the length and
// CRC-32C of the body, then the body in gob. The checksum keeps a damaged
// file from being decoded at all.
func WriteSnapshot(w io.Writer, snap *Snapshot) error {
	var body bytes.Buffer
	if err := gob.NewEncoder(&body).Encode(snap); err != nil {
		return fmt.Errorf("encode alert state: %w", err)
	}
	var head [12]byte
	binary.BigEndian.PutUint64(head[:8], uint64(body.Len()))
	binary.BigEndian.PutUint32(head[8:], crc32.Checksum(body.Bytes(), crcTable))
	bw := bufio.NewWriter(w)
	bw.WriteString(snapshotMagic)
	bw.Write(head[:])
	bw.Write(body.Bytes())
	return bw.Flush()
}

// ReadSnapshot decodes what WriteSnapshot wrote; a file of another
// version, cut short or damaged is an error.
func ReadSnapshot(r io.Reader) (*Snapshot, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return nil, errors.New("alert state: not a riskmon alert-state file of version 2")
	}
	var head [12]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		return nil, fmt.Errorf("alert state: header: %w", err)
	}
	n := binary.BigEndian.Uint64(head[:8])
	if n > maxSnapshotBytes {
		return nil, fmt.Errorf("alert state: body of %d bytes is implausible", n)
	}
	body, err := io.ReadAll(io.LimitReader(br, int64(n)))
	if err != nil {
		return nil, fmt.Errorf("alert state: %w", err)
	}
	if uint64(len(body)) != n {
		return nil, fmt.Errorf("alert state: cut short at %d of %d bytes", len(body), n)
	}
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(head[8:]) {
		return nil, errors.New("alert state: checksum mismatch, the file is damaged")
	}
	var snap Snapshot
	if err := gob.NewDecoder(bytes.NewReader(body)).Decode(&snap); err != nil {
		return nil, fmt.Errorf("decode alert state: %w", err)
	}
	return &snap, nil
}

// SaveSnapshot writes a snapshot to path atomically: a temporary file in
// the same folder, synced, renamed over path, and the folder synced, so
// a crash leaves the old file or the new one, never half of one.
func SaveSnapshot(path string, snap *Snapshot) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save alert state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if err := WriteSnapshot(f, snap); err != nil {
		f.Close()
		return fmt.Errorf("save alert state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("save alert state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save alert state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save alert state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("save alert state: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("save alert state: sync %s: %w", dir, err)
	}
	return nil
}

// LoadSnapshot reads a snapshot file; a missing file is (nil, nil), the
// first start.
func LoadSnapshot(path string) (*Snapshot, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load alert state: %w", err)
	}
	defer f.Close()
	snap, err := ReadSnapshot(f)
	if err != nil {
		return nil, fmt.Errorf("load alert state %s: %w", path, err)
	}
	return snap, nil
}

// Adopt reconciles the engine with the alerts the lifecycle store holds
// open, after Restore at start-up. The periodic snapshot can be up to
// its interval older than a crash, and an alert may have fired in
// between: the store (which records every event before it is notified)
// knows. For each open, active record of a sensor rule:
//
//   - the engine has the same alert pending (the id derives from the
//     pending start): it fired, so it is made firing at the record's level;
//   - the engine has no alert of that rule open: the record's alert is
//     taken up, firing with its StartsAt and level, so the next reading
//     holds or resolves that alert instead of raising a second one;
//   - the engine has it firing at a less severe level: the escalation
//     happened, the record's level is taken;
//   - the record is cleared (resolved, still listed) but the engine has
//     the same alert firing: it resolved after the save, so the engine
//     lets it go instead of resolving it a second time.
//
// In every case the sensor's last evaluated time becomes at least that of
// the record's latest change, so an older reading is not evaluated again.
//
// Nothing is emitted. It returns how many alerts it changed.
func (e *Engine) Adopt(open []Record) int {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	set := e.cur.Load()
	set.lockAll()
	defer set.unlockAll()
	n := 0
	for _, rec := range open {
		s := set.subjects[subjectKey{rec.Site, rec.Sensor}]
		if s == nil {
			// Groups and composite rules are subjects of their own.
			if set.adoptCombined(rec) {
				n++
			}
			continue
		}
		s.adoptLast(rec)
		switch {
		case rec.Level > sensors.LevelBlue:
		case rec.State == StateClearedUnacked || rec.State == StateLatched:
			if s.forget(rec.ID) {
				n++
			}
		case rec.Level != sensors.LevelNone && s.adopt(rec):
			n++
		}
	}
	if n > 0 {
		e.recountActive(set)
	}
	return n
}

// adoptLast takes the device time of the record's latest change of the
// sensor as evaluated already: the snapshot may be older than that
// change, and a reading older than it (a gateway replaying its buffer,
// a broker redelivering after the crash) would otherwise be evaluated
// against the adopted alert and resolve it, and the live condition would
// raise it again under a new id. Acknowledgements and sensor_stale run
// on riskmon's clock, not the device's, and say nothing about it.
func (s *subject) adoptLast(rec Record) {
	for _, ev := range rec.Events {
		if ev.Type == EventAcknowledged || ev.Type == EventReminder || ev.Rule == RuleSensorStale || ev.At.IsZero() {
			continue
		}
		if at := ev.At.UnixNano(); !s.evaluated || at > s.last {
			s.last, s.evaluated = at, true
		}
	}
}

// adoptCombined takes up an open alert of a group (sensor_disagreement,
// group_vote) or a composite rule whose state was not in the snapshot,
// as adopt does for a sensor's rules: firing at the stored level under
// the stored id, so it is neither raised again nor left open for ever.
func (set *ruleSet) adoptCombined(rec Record) bool {
	if (rec.State != StateActiveUnacked && rec.State != StateActiveAcked) || rec.Level == sensors.LevelNone || rec.Level > sensors.LevelBlue {
		return false
	}
	take := func(mu *sync.Mutex, st *exposureState) bool {
		mu.Lock()
		defer mu.Unlock()
		if st.level != sensors.LevelNone {
			return false
		}
		st.level, st.since = rec.Level, rec.StartsAt.UnixNano()
		return true
	}
	for _, g := range set.groups {
		if g.site != rec.Site || g.id != rec.Sensor {
			continue
		}
		switch rec.Rule {
		case RuleSensorDisagreement:
			return take(&g.mu, &g.dis)
		case RuleGroupVote:
			return take(&g.mu, &g.voted)
		}
	}
	for _, c := range set.composites {
		if c.site == rec.Site && c.id == rec.Rule && c.id == rec.Sensor {
			return take(&c.mu, &c.st)
		}
	}
	return false
}

// forget ends, without an event, the sensor's open alert of the given
// id: the store says it was resolved.
func (s *subject) forget(id string) bool {
	for _, f := range ruleFamilies() {
		if f.forget(s, id) {
			return true
		}
	}
	return false
}

// adopt takes up a stored open alert of the sensor's rules that the
// snapshot did not have.
func (s *subject) adopt(rec Record) bool {
	for _, f := range ruleFamilies() {
		if f.adopt(s, rec) {
			return true
		}
	}
	return false
}

// finite reports whether every value of xs is a finite number.
func finite(xs []float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
