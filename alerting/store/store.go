package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/riskmon/riskmon/alerting"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Store keeps what the alert path must not forget across a restart: the
// open alerts with their acknowledgements, the shelves, the flapping
// state, and the notification outbox with the keys of what was already
// sent. It is one bbolt file: a single-file B+tree with ACID transactions
// and fsync on commit, pure Go, and a well-kept library (etcd's). The
// data is small (thousands of keys, not millions) and written a few
// times per alert, which suits a B+tree better than an LSM store, whose
// compactions and background goroutines buy nothing here.
//
// Writes go through bolt's Batch, so the many goroutines that raise alerts
// at once (one per engine shard) share one fsync instead of queueing for
// their own.
type Store struct {
	db *bolt.DB
	// join, when set, puts each recorded change's notifications into
	// the commit that records it (JoinOutbox).
	join OutboxJoin

	mu          sync.Mutex
	quarantined []alerting.Damaged // guarded by mu
}

// OutboxJoin is the outbox's side of a change recorded with its
// notifications in one commit; the dispatcher (alerting/dispatch) is one.
type OutboxJoin interface {
	// Plan says which notifiers ev is for, and which of them will begin
	// to send it as soon as the commit is done; ok is false when it is
	// notified to none (a shelved or planned alert's change).
	Plan(ev alerting.Event) (notifiers []string, begun []bool, ok bool)
	// Queued takes what the commit stored once it is durable: per
	// notifier of the plan, the sequence number (0: sent or waiting
	// already), and the plan's begun.
	Queued(ev alerting.Event, key string, seqs []uint64, begun []bool)
}

// JoinOutbox makes the commit that records an alert change (PutRecord,
// DeleteRecord, PutHandoff with an event) also add the change to the
// outbox, as Enqueue would, and hand the result to j. A page then waits
// for one commit (two fsyncs) instead of two: the alert store and the
// outbox are one file, and a change and its notifications are recorded
// together or not at all. Call it before the first change is recorded.
func (s *Store) JoinOutbox(j OutboxJoin) { s.join = j }

var (
	bucketRecords = []byte("records")
	bucketShelves = []byte("shelves")
	bucketFlap    = []byte("flapping")
	bucketOutbox  = []byte("outbox") // one sub-bucket per notifier, keyed by sequence
	bucketSent    = []byte("sent")   // one sub-bucket per notifier, idempotency key -> unix ns
	// bucketHandoff holds, by idempotency key, each alert change the
	// lifecycle recorded whose hand-off to the outbox and journal is not
	// yet confirmed; it is committed with the record itself.
	bucketHandoff = []byte("handoff")
	// bucketQuarantine keeps damaged entries, as found, under
	// "<bucket>/<key>".
	bucketQuarantine = []byte("quarantine")
)

// Open opens or creates the store at path. A file bbolt cannot open
// or whose pages fail bbolt's consistency check is damaged beyond single
// entries: it is renamed aside (path.damaged-<unix time>) for
// inspection, a fresh store is made, and Quarantined reports it; a
// second riskmon holding the file is still an error. Open alerts and
// unsent notifications of the damaged file are then lost to this
// process; the journal keeps their history.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("alert store: %w", err)
	}
	db, err := openBolt(path)
	if err == nil {
		return &Store{db: db}, nil
	}
	if !errors.Is(err, errDamagedFile) && !errors.Is(err, berrors.ErrInvalid) && !errors.Is(err, berrors.ErrChecksum) &&
		!errors.Is(err, berrors.ErrVersionMismatch) && !errors.Is(err, berrors.ErrInvalidMapping) {
		// A lock held by another riskmon, a permission, a full disk: the
		// file may be sound, and setting it aside would lose it.
		return nil, fmt.Errorf("alert store %s: %w", path, err)
	}
	aside := fmt.Sprintf("%s.damaged-%d", path, time.Now().Unix())
	if rerr := os.Rename(path, aside); rerr != nil {
		return nil, fmt.Errorf("alert store %s: %w (and it could not be set aside: %w)", path, err, rerr)
	}
	db, err2 := openBolt(path)
	if err2 != nil {
		return nil, fmt.Errorf("alert store %s: %w", path, err2)
	}
	return &Store{db: db, quarantined: []alerting.Damaged{{Bucket: "file", Key: aside, Err: err.Error(), At: time.Now().UTC()}}}, nil
}

// openBolt opens the file and checks its structure (a damaged one is
// reported as errDamagedFile). bbolt panics on some
// damaged pages; the panic is turned into an error here, before the
// service relies on the file.
func openBolt(path string) (db *bolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			if db != nil {
				_ = db.Close()
			}
			db, err = nil, fmt.Errorf("%w: %v", errDamagedFile, p)
		}
	}()
	// A second riskmon on the same state dir would double-page; the file
	// lock makes it fail fast instead of waiting forever.
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	db.MaxBatchDelay = 500 * time.Microsecond
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for e := range tx.Check() {
			if len(errs) < 5 {
				errs = append(errs, e)
			}
		}
		return errors.Join(errs...)
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%w: %w", errDamagedFile, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRecords, bucketShelves, bucketFlap, bucketOutbox, bucketSent, bucketHandoff, bucketQuarantine} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// errDamagedFile marks a store file whose structure is broken.
var errDamagedFile = errors.New("damaged file")

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// PutRecord writes r unless the store holds a newer version of it, so two
// writers racing for one alert (an acknowledgement and an engine event)
// cannot leave the older state behind. With ev, the change is also marked
// as not yet handed on, in the same transaction: a crash before the
// outbox and the journal have it leaves the mark, and the change is
// passed on again after the restart. With an outbox joined (JoinOutbox),
// the change's notifications are in that transaction too.
func (s *Store) PutRecord(r alerting.Record, ev *alerting.Event) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.commitChange(ev, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecords)
		if old := b.Get([]byte(r.ID)); old != nil && storedVersion(old) >= r.Version {
			return nil
		}
		return b.Put([]byte(r.ID), v)
	})
}

// DeleteRecord removes a closed alert, unless a newer version reopened it;
// ev is marked as PutRecord does.
func (s *Store) DeleteRecord(id string, version uint64, ev *alerting.Event) error {
	return s.commitChange(ev, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecords)
		if old := b.Get([]byte(id)); old != nil && storedVersion(old) > version {
			return nil
		}
		return b.Delete([]byte(id))
	})
}

// commitChange commits write with ev's hand-off mark and, with an outbox
// joined, ev's notifications, in one transaction. ev may be nil: write
// alone.
func (s *Store) commitChange(ev *alerting.Event, write func(tx *bolt.Tx) error) error {
	hk, hv, err := handoffEntry(ev)
	if err != nil {
		return err
	}
	var (
		notifiers []string
		begun     []bool
		ov        []byte
		seqs      []uint64
	)
	joined := false
	if ev != nil && s.join != nil {
		if notifiers, begun, joined = s.join.Plan(*ev); joined {
			if ov, err = outboxValue(string(hk), *ev); err != nil {
				return err
			}
			seqs = make([]uint64, len(notifiers))
		}
	}
	err = s.db.Batch(func(tx *bolt.Tx) error {
		if hk != nil {
			if err := tx.Bucket(bucketHandoff).Put(hk, hv); err != nil {
				return err
			}
		}
		if joined {
			if err := enqueueTx(tx, notifiers, begun, hk, ov, seqs); err != nil {
				return err
			}
		}
		if write == nil {
			return nil
		}
		return write(tx)
	})
	if err == nil && joined {
		s.join.Queued(*ev, string(hk), seqs, begun)
	}
	return err
}

func handoffEntry(ev *alerting.Event) (k, v []byte, err error) {
	if ev == nil {
		return nil, nil, nil
	}
	v, err = json.Marshal(ev)
	if err != nil {
		return nil, nil, err
	}
	return []byte(ev.Key()), v, nil
}

// PutHandoff marks ev alone as not yet handed on.
func (s *Store) PutHandoff(ev *alerting.Event) error {
	if ev == nil {
		return nil
	}
	return s.commitChange(ev, nil)
}

// HandedOff clears the mark of a change the next stages now hold.
func (s *Store) HandedOff(key string) error {
	return s.db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(bucketHandoff).Delete([]byte(key)) })
}

// Handoffs returns the changes whose hand-off was not confirmed, oldest
// first.
func (s *Store) Handoffs() ([]alerting.Event, error) {
	var out []alerting.Event
	err := s.each(bucketHandoff, func(_, v []byte) error {
		var ev alerting.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return err
		}
		if ev.AlertID == "" || ev.Type == 0 {
			return errors.New("not an alert event")
		}
		out = append(out, ev)
		return nil
	})
	slices.SortStableFunc(out, func(a, b alerting.Event) int { return a.At.Compare(b.At) })
	return out, err
}

func storedVersion(v []byte) uint64 {
	var r struct {
		Version uint64 `json:"version"`
	}
	_ = json.Unmarshal(v, &r)
	return r.Version
}

// Records returns every stored open alert; a damaged one is quarantined.
func (s *Store) Records() ([]alerting.Record, error) {
	var out []alerting.Record
	err := s.each(bucketRecords, func(k, v []byte) error {
		var r alerting.Record
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		if r.ID != string(k) || r.State == 0 {
			return fmt.Errorf("record holds alert %q in state %d", r.ID, r.State)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// Bucket is one of the store's small buckets, keyed by string: the
// shelves or the flapping state. It implements lifecycle.KV.
type Bucket struct {
	s    *Store
	name []byte
}

// Shelves is the bucket of the active shelves.
func (s *Store) Shelves() Bucket { return Bucket{s: s, name: bucketShelves} }

// Flapping is the bucket of the flapping state.
func (s *Store) Flapping() Bucket { return Bucket{s: s, name: bucketFlap} }

// Each calls fn with every entry; an entry fn refuses is quarantined (see
// Store.Quarantined) and the others are still read.
func (b Bucket) Each(fn func(k, v []byte) error) error { return b.s.each(b.name, fn) }

// Put writes one entry.
func (b Bucket) Put(key string, v []byte) error { return b.s.putRaw(b.name, key, v) }

// Delete removes one entry.
func (b Bucket) Delete(key string) error { return b.s.deleteKey(b.name, key) }

func (s *Store) putRaw(bucket []byte, key string, v []byte) error {
	return s.db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(key), v) })
}

func (s *Store) deleteKey(bucket []byte, key string) error {
	return s.db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete([]byte(key)) })
}

// each calls fn with every value of bucket. An entry fn cannot decode
// (it returns an error) is damaged: it is moved to the quarantine bucket
// and reported by Quarantined, and the others are still read. Only a
// failure of the file itself is returned.
func (s *Store) each(bucket []byte, fn func(k, v []byte) error) error {
	return s.eachIn(func(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(bucket) }, string(bucket), fn)
}

func (s *Store) eachIn(open func(*bolt.Tx) *bolt.Bucket, name string, fn func(k, v []byte) error) error {
	type bad struct {
		key []byte
		err error
	}
	var damaged []bad
	err := s.db.View(func(tx *bolt.Tx) error {
		b := open(tx)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return nil // a nested bucket
			}
			if err := fn(k, v); err != nil {
				damaged = append(damaged, bad{bytes.Clone(k), err})
			}
			return nil
		})
	})
	if err != nil || len(damaged) == 0 {
		return err
	}
	now := time.Now().UTC()
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := open(tx)
		q := tx.Bucket(bucketQuarantine)
		for _, d := range damaged {
			if v := b.Get(d.key); v != nil {
				if err := q.Put([]byte(name+"/"+string(d.key)), bytes.Clone(v)); err != nil {
					return err
				}
			}
			if err := b.Delete(d.key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("quarantine damaged %s entries: %w", name, err)
	}
	s.mu.Lock()
	for _, d := range damaged {
		s.quarantined = append(s.quarantined, alerting.Damaged{Bucket: name, Key: printable(d.key), Err: d.err.Error(), At: now})
	}
	s.mu.Unlock()
	return nil
}

// printable shows a key as text when it is, and in hex when not.
func printable(k []byte) string {
	if utf8.Valid(k) && !bytes.ContainsFunc(k, func(r rune) bool { return r < ' ' }) {
		return string(k)
	}
	return fmt.Sprintf("%x", k)
}

// Quarantined lists the damaged entries found since the store was opened.
func (s *Store) Quarantined() []alerting.Damaged {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.quarantined)
}

// outboxEntry is one notification waiting for its notifier.
type outboxEntry struct {
	seq uint64
	key string
	ev  alerting.Event
	// tried: a send had begun when the last process stopped, so the
	// receiver may have it already.
	tried bool
}

// Enqueue adds ev to the outbox of each notifier that has neither sent
// it nor has it waiting, and reports, per notifier, the sequence number it
// was stored under (0 for a duplicate). A notifier begun marks is
// recorded as Tried in the same commit.
func (s *Store) Enqueue(notifiers []string, begun []bool, key string, ev alerting.Event) ([]uint64, error) {
	v, err := outboxValue(key, ev)
	if err != nil {
		return nil, err
	}
	seqs := make([]uint64, len(notifiers))
	err = s.db.Batch(func(tx *bolt.Tx) error { return enqueueTx(tx, notifiers, begun, []byte(key), v, seqs) })
	return seqs, err
}

// outboxValue is an outbox entry: the event under its key.
func outboxValue(key string, ev alerting.Event) ([]byte, error) {
	return json.Marshal(struct {
		Key string         `json:"key"`
		Ev  alerting.Event `json:"event"`
	}{key, ev})
}

// enqueueTx adds the entry v under key to each notifier's outbox within
// tx, as Enqueue describes, and sets seqs (one per notifier).
func enqueueTx(tx *bolt.Tx, notifiers []string, begun []bool, key, v []byte, seqs []uint64) error {
	clear(seqs) // Batch may run the function again
	for i, n := range notifiers {
		sent, err := tx.Bucket(bucketSent).CreateBucketIfNotExists([]byte(n))
		if err != nil {
			return err
		}
		if sent.Get(key) != nil {
			continue
		}
		ob, err := tx.Bucket(bucketOutbox).CreateBucketIfNotExists([]byte(n))
		if err != nil {
			return err
		}
		// The key is marked at once, so a second copy of the event
		// arriving before the first is delivered is also refused.
		mark := pendingMark
		if i < len(begun) && begun[i] {
			mark = triedMark
		}
		if err := sent.Put(key, mark); err != nil {
			return err
		}
		seq, _ := ob.NextSequence()
		if err := ob.Put(seqKey(seq), v); err != nil {
			return err
		}
		seqs[i] = seq
	}
	return nil
}

// pendingMark is the sent-bucket value of a key whose notification is
// still in the outbox, triedMark that of one whose send has begun; once
// done it holds the time it was done.
var (
	pendingMark = []byte{0}
	triedMark   = []byte{1}
)

// Tried records that a send of the notification begins, so that a restart
// that finds it still waiting knows the receiver may have it already.
func (s *Store) Tried(notifier, key string) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		sent := tx.Bucket(bucketSent).Bucket([]byte(notifier))
		if sent == nil || !bytes.Equal(sent.Get([]byte(key)), pendingMark) {
			return nil // done already, or pruned
		}
		return sent.Put([]byte(key), triedMark)
	})
}

// Done removes a notification from the outbox and records its key as
// delivered (or given up on) at t.
func (s *Store) Done(notifier string, seq uint64, key string, t time.Time) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		if ob := tx.Bucket(bucketOutbox).Bucket([]byte(notifier)); ob != nil {
			if err := ob.Delete(seqKey(seq)); err != nil {
				return err
			}
		}
		sent, err := tx.Bucket(bucketSent).CreateBucketIfNotExists([]byte(notifier))
		if err != nil {
			return err
		}
		var ts [8]byte
		binary.BigEndian.PutUint64(ts[:], uint64(t.UnixNano()))
		return sent.Put([]byte(key), ts[:])
	})
}

// Pending calls fn with each notification of a notifier's outbox, in
// order; a damaged entry is quarantined. tried says a send had begun when
// the last process stopped, so the receiver may have it already. The
// Store is the dispatcher's outbox (dispatch.Outbox).
func (s *Store) Pending(notifier string, fn func(seq uint64, key string, ev alerting.Event, tried bool)) error {
	entries, err := s.pending(notifier)
	for _, e := range entries {
		fn(e.seq, e.key, e.ev, e.tried)
	}
	return err
}

// pending returns a notifier's outbox in order.
func (s *Store) pending(notifier string) ([]outboxEntry, error) {
	var out []outboxEntry
	open := func(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(bucketOutbox).Bucket([]byte(notifier)) }
	err := s.eachIn(open, string(bucketOutbox)+"/"+notifier, func(k, v []byte) error {
		var e struct {
			Key string         `json:"key"`
			Ev  alerting.Event `json:"event"`
		}
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		if len(k) != 8 || e.Key == "" || e.Ev.Type == 0 {
			return errors.New("not an outbox entry")
		}
		out = append(out, outboxEntry{seq: binary.BigEndian.Uint64(k), key: e.Key, ev: e.Ev})
		return nil
	})
	if err != nil || len(out) == 0 {
		return out, err
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		sent := tx.Bucket(bucketSent).Bucket([]byte(notifier))
		if sent == nil {
			return nil
		}
		for i := range out {
			out[i].tried = bytes.Equal(sent.Get([]byte(out[i].key)), triedMark)
		}
		return nil
	})
	return out, err
}

// PruneSent forgets delivered keys older than cutoff; keys still pending
// stay. It returns how many were removed.
func (s *Store) PruneSent(cutoff time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSent).ForEachBucket(func(name []byte) error {
			b := tx.Bucket(bucketSent).Bucket(name)
			var old [][]byte
			err := b.ForEach(func(k, v []byte) error {
				if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < cutoff.UnixNano() {
					old = append(old, bytes.Clone(k))
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range old {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n += len(old)
			return nil
		})
	})
	return n, err
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}
