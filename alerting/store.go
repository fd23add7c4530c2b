package alerting

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
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
}

var (
	bucketRecords = []byte("records")
	bucketShelves = []byte("shelves")
	bucketFlap    = []byte("flapping")
	bucketOutbox  = []byte("outbox") // one sub-bucket per notifier, keyed by sequence
	bucketSent    = []byte("sent")   // one sub-bucket per notifier, idempotency key -> unix ns
)

// OpenStore opens or creates the store at path.
func OpenStore(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("alert store: %w", err)
	}
	// A second riskmon on the same state dir would double-page; the file
	// lock makes it fail fast instead of waiting forever.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("alert store %s: %w", path, err)
	}
	db.MaxBatchDelay = 500 * time.Microsecond
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRecords, bucketShelves, bucketFlap, bucketOutbox, bucketSent} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("alert store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// putRecord writes r unless the store holds a newer version of it, so two
// writers racing for one alert (an acknowledgement and an engine event)
// cannot leave the older state behind.
func (s *Store) putRecord(r Record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecords)
		if old := b.Get([]byte(r.ID)); old != nil && storedVersion(old) >= r.Version {
			return nil
		}
		return b.Put([]byte(r.ID), v)
	})
}

// deleteRecord removes a closed alert, unless a newer version reopened it.
func (s *Store) deleteRecord(id string, version uint64) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecords)
		if old := b.Get([]byte(id)); old != nil && storedVersion(old) > version {
			return nil
		}
		return b.Delete([]byte(id))
	})
}

func storedVersion(v []byte) uint64 {
	var r struct {
		Version uint64 `json:"version"`
	}
	_ = json.Unmarshal(v, &r)
	return r.Version
}

// records returns every stored open alert.
func (s *Store) records() ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("record %s: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// putJSON and deleteKey serve the small buckets (shelves, flapping).
func (s *Store) putJSON(bucket []byte, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.putRaw(bucket, key, b)
}

func (s *Store) putRaw(bucket []byte, key string, v []byte) error {
	return s.db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(key), v) })
}

func (s *Store) deleteKey(bucket []byte, key string) error {
	return s.db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete([]byte(key)) })
}

// each calls fn with every value of bucket.
func (s *Store) each(bucket []byte, fn func(k, v []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return tx.Bucket(bucket).ForEach(fn) })
}

// outboxEntry is one notification waiting for its notifier.
type outboxEntry struct {
	seq uint64
	key string
	ev  Event
}

// enqueue adds ev to the outbox of each notifier that has neither sent
// it nor has it waiting, and reports, per notifier, the sequence number it
// was stored under (0 for a duplicate).
func (s *Store) enqueue(notifiers []string, key string, ev Event) ([]uint64, error) {
	v, err := json.Marshal(struct {
		Key string `json:"key"`
		Ev  Event  `json:"event"`
	}{key, ev})
	if err != nil {
		return nil, err
	}
	seqs := make([]uint64, len(notifiers))
	err = s.db.Batch(func(tx *bolt.Tx) error {
		clear(seqs) // Batch may run the function again
		for i, n := range notifiers {
			sent, err := tx.Bucket(bucketSent).CreateBucketIfNotExists([]byte(n))
			if err != nil {
				return err
			}
			if sent.Get([]byte(key)) != nil {
				continue
			}
			ob, err := tx.Bucket(bucketOutbox).CreateBucketIfNotExists([]byte(n))
			if err != nil {
				return err
			}
			// The key is marked at once, so a second copy of the event
			// arriving before the first is delivered is also refused.
			if err := sent.Put([]byte(key), pendingMark); err != nil {
				return err
			}
			seq, _ := ob.NextSequence()
			if err := ob.Put(seqKey(seq), v); err != nil {
				return err
			}
			seqs[i] = seq
		}
		return nil
	})
	return seqs, err
}

// pendingMark is the sent-bucket value of a key whose notification is
// still in the outbox; once done it holds the time it was done.
var pendingMark = []byte{0}

// done removes a notification from the outbox and records its key as
// delivered (or given up on) at t.
func (s *Store) done(notifier string, seq uint64, key string, t time.Time) error {
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

// pending returns a notifier's outbox in order.
func (s *Store) pending(notifier string) ([]outboxEntry, error) {
	var out []outboxEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		ob := tx.Bucket(bucketOutbox).Bucket([]byte(notifier))
		if ob == nil {
			return nil
		}
		return ob.ForEach(func(k, v []byte) error {
			var e struct {
				Key string `json:"key"`
				Ev  Event  `json:"event"`
			}
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("outbox %s/%x: %w", notifier, k, err)
			}
			out = append(out, outboxEntry{seq: binary.BigEndian.Uint64(k), key: e.Key, ev: e.Ev})
			return nil
		})
	})
	return out, err
}

// pruneSent forgets delivered keys older than cutoff; keys still pending
// stay. It returns how many were removed.
func (s *Store) pruneSent(cutoff time.Time) (int, error) {
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
