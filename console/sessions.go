package console

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Sessions survive a restart when Auth has a SessionStore: an operator in
// the middle of an incident is not logged out because riskmon restarted.
// The store never holds a session id, only its SHA-256, so a copy of the
// file gives nobody a cookie that works.

// SessionStore keeps sessions across a restart, by the hash of their id.
type SessionStore interface {
	PutSession(key string, s StoredSession) error
	DeleteSession(key string) error
	Sessions() (map[string]StoredSession, error)
}

// StoredSession is what a session keeps: who, its CSRF token, and when it
// ends. The role is not kept: it is taken from the accounts when the
// session is loaded, so a changed role or a removed user takes effect on
// the restart.
type StoredSession struct {
	User    string    `json:"user"`
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

// sessionKey is the map and store key of a session id.
func sessionKey(sid string) string {
	sum := sha256.Sum256([]byte(sid))
	return hex.EncodeToString(sum[:])
}

// SessionFile is a SessionStore in a bbolt file of its own.
type SessionFile struct {
	db *bolt.DB
}

var bucketSessions = []byte("sessions")

// OpenSessionFile opens or creates the session file at path.
func OpenSessionFile(path string) (*SessionFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("session store: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("session store %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketSessions)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("session store %s: %w", path, err)
	}
	return &SessionFile{db: db}, nil
}

// Close closes the file.
func (f *SessionFile) Close() error { return f.db.Close() }

// PutSession stores s under key.
func (f *SessionFile) PutSession(key string, s StoredSession) error {
	v, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return f.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSessions).Put([]byte(key), v) })
}

// DeleteSession removes key.
func (f *SessionFile) DeleteSession(key string) error {
	return f.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSessions).Delete([]byte(key)) })
}

// Sessions returns every stored session; a record that does not decode is
// skipped (its operator logs in again).
func (f *SessionFile) Sessions() (map[string]StoredSession, error) {
	out := map[string]StoredSession{}
	err := f.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
			var s StoredSession
			if json.Unmarshal(v, &s) == nil {
				out[string(k)] = s
			}
			return nil
		})
	})
	return out, err
}
