package jskv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskmon/riskmon/alerting"
)

// Options configure a Store.
type Options struct {
	// Bucket names the key-value bucket; default DefaultBucket.
	Bucket string
	// Replicas is how many NATS nodes keep the bucket: the cluster's
	// replicas, so the alert state survives what the stream survives.
	Replicas int
	// Timeout bounds each request; default 5 s.
	Timeout time.Duration
	// Owns reports whether this instance holds site now. Records,
	// Handoffs and the flapping bucket's Each list only the sites it
	// holds: a lifecycle restored at start takes up no other owner's
	// alerts. Nil holds every site.
	Owns func(site string) bool
}

// DefaultBucket is the bucket's name unless Options say otherwise.
const DefaultBucket = "riskmon_alerts"

// Store keeps the alert path's state in one JetStream key-value bucket.
// It implements lifecycle.RecordStore, and its Shelves and Flapping are
// lifecycle.KV. A bucket is a replicated stream: each write is stored
// once a majority of its replicas has it, and the bucket's leader decides
// every create and compare-and-set against the key's last revision, which
// is what keeps an older version of an alert from replacing a newer one
// and lets only one instance claim a notification.
//
// Unlike the bbolt store, a record and its hand-off mark are two writes,
// not one commit: the mark is written first, so a crash between them
// leaves a change that is handed on again (the outbox refuses a second
// copy), never one recorded and lost.
type Store struct {
	kv      jetstream.KeyValue
	timeout time.Duration
	owns    func(string) bool

	mu sync.Mutex
	// sites maps the alert ids this store wrote or read to their site, so
	// DeleteRecord finds the key without a listing. Guarded by mu.
	sites       map[string]string
	quarantined []alerting.Damaged // guarded by mu
}

// Open creates the bucket, or opens the one there is, and returns a
// Store on it.
func Open(ctx context.Context, js jetstream.JetStream, opts Options) (*Store, error) {
	if opts.Bucket == "" {
		opts.Bucket = DefaultBucket
	}
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Owns == nil {
		opts.Owns = func(string) bool { return true }
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: opts.Bucket, History: 1,
		Replicas: opts.Replicas, Storage: jetstream.FileStorage,
		Description: "riskmon open alerts, hand-off marks, shelves, flapping state and claimed notifications"})
	if err != nil {
		return nil, fmt.Errorf("alert state bucket %s: %w", opts.Bucket, err)
	}
	return &Store{kv: kv, timeout: opts.Timeout, owns: opts.Owns, sites: map[string]string{}}, nil
}

func (s *Store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

// conflict reports whether err is a lost compare-and-set: someone wrote
// the key in between, so the caller reads it again.
func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// maxAttempts bounds a compare-and-set loop: two writers of one alert
// (an acknowledgement and an engine event) conflict once or twice, not
// for ever.
const maxAttempts = 16

// PutRecord keeps r unless a newer version of it is kept, with the
// hand-off mark of ev (when not nil) written first.
func (s *Store) PutRecord(r alerting.Record, ev *alerting.Event) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := s.PutHandoff(ev); err != nil {
		return err
	}
	s.remember(r.ID, r.Site)
	ctx, cancel := s.ctx()
	defer cancel()
	key := recordKey(r.Site, r.ID)
	for range maxAttempts {
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = s.kv.Create(ctx, key, v)
		case err != nil:
			return fmt.Errorf("alert %s: %w", r.ID, err)
		case storedVersion(e.Value()) >= r.Version:
			return nil
		default:
			_, err = s.kv.Update(ctx, key, v, e.Revision())
		}
		if err == nil || !conflict(err) {
			return wrap(r.ID, err)
		}
	}
	return fmt.Errorf("alert %s: still written by another instance after %d attempts", r.ID, maxAttempts)
}

func wrap(id string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("alert %s: %w", id, err)
}

// DeleteRecord forgets the alert id kept at version or older, with the
// hand-off mark of ev (when not nil) written first.
func (s *Store) DeleteRecord(id string, version uint64, ev *alerting.Event) error {
	if err := s.PutHandoff(ev); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	key, err := s.keyOf(ctx, id, ev)
	if err != nil || key == "" {
		return wrap(id, err)
	}
	for range maxAttempts {
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			s.forget(id)
			return nil
		case err != nil:
			return wrap(id, err)
		case storedVersion(e.Value()) > version:
			return nil
		}
		err = s.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
		if err == nil {
			s.forget(id)
		}
		if err == nil || !conflict(err) {
			return wrap(id, err)
		}
	}
	return fmt.Errorf("alert %s: still written by another instance after %d attempts", id, maxAttempts)
}

// keyOf finds the key of alert id: from its site when known, else by
// listing; "" when no key holds it.
func (s *Store) keyOf(ctx context.Context, id string, ev *alerting.Event) (string, error) {
	s.mu.Lock()
	site, ok := s.sites[id]
	s.mu.Unlock()
	if !ok && ev != nil && ev.Site != "" {
		site, ok = ev.Site, true
	}
	if ok {
		return recordKey(site, id), nil
	}
	l, err := s.kv.ListKeysFiltered(ctx, prefixRecord+".*."+escape(id))
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Stop() }()
	for k := range l.Keys() {
		return k, nil
	}
	return "", nil
}

func (s *Store) remember(id, site string) {
	s.mu.Lock()
	s.sites[id] = site
	s.mu.Unlock()
}

// forget drops the site of an alert no longer kept, so the map holds the
// open alerts' sites, not every alert's ever raised.
func (s *Store) forget(id string) {
	s.mu.Lock()
	delete(s.sites, id)
	s.mu.Unlock()
}

// PutHandoff marks ev as not yet handed on; nil marks nothing.
func (s *Store) PutHandoff(ev *alerting.Event) error {
	if ev == nil {
		return nil
	}
	v, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if _, err := s.kv.Put(ctx, prefixHandoff+"."+hashKey(ev.Key()), v); err != nil {
		return fmt.Errorf("hand-off mark of %s: %w", ev.AlertID, err)
	}
	return nil
}

// HandedOff removes the hand-off mark of the change key (Event.Key).
func (s *Store) HandedOff(key string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	err := s.kv.Delete(ctx, prefixHandoff+"."+hashKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}

func storedVersion(v []byte) uint64 {
	var r struct {
		Version uint64 `json:"version"`
	}
	_ = json.Unmarshal(v, &r)
	return r.Version
}

// Records returns the kept alerts of the sites this instance holds.
func (s *Store) Records() ([]alerting.Record, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.records(ctx, []string{prefixRecord + ".>"}, s.owns)
}

// RecordsOf returns the kept alerts of the given sites, whoever holds
// them: what an instance taking the sites over continues.
func (s *Store) RecordsOf(ctx context.Context, sites []string) ([]alerting.Record, error) {
	if len(sites) == 0 {
		return nil, nil
	}
	filters := make([]string, len(sites))
	for i, site := range sites {
		filters[i] = siteRecords(site)
	}
	return s.records(ctx, filters, func(string) bool { return true })
}

// AllRecords returns every kept alert of the cluster.
func (s *Store) AllRecords(ctx context.Context) ([]alerting.Record, error) {
	return s.records(ctx, []string{prefixRecord + ".>"}, func(string) bool { return true })
}

func (s *Store) records(ctx context.Context, filters []string, keep func(string) bool) ([]alerting.Record, error) {
	var out []alerting.Record
	err := s.each(ctx, filters, func(key string, v []byte) error {
		var r alerting.Record
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		if _, rest, ok := tokens(key); !ok || len(rest) != 2 || rest[0] != r.Site || rest[1] != r.ID || r.State == 0 {
			return fmt.Errorf("record holds alert %q of site %q in state %d", r.ID, r.Site, r.State)
		}
		if keep(r.Site) {
			s.remember(r.ID, r.Site)
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// Handoffs returns, oldest first, the changes of the sites this
// instance holds whose hand-off was not confirmed.
func (s *Store) Handoffs() ([]alerting.Event, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.handoffs(ctx, s.owns)
}

// HandoffsOf is Handoffs for the given sites, whoever holds them.
func (s *Store) HandoffsOf(ctx context.Context, sites []string) ([]alerting.Event, error) {
	return s.handoffs(ctx, func(site string) bool { return slices.Contains(sites, site) })
}

func (s *Store) handoffs(ctx context.Context, keep func(string) bool) ([]alerting.Event, error) {
	var out []alerting.Event
	err := s.each(ctx, []string{prefixHandoff + ".*"}, func(key string, v []byte) error {
		var ev alerting.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return err
		}
		if ev.AlertID == "" || ev.Type == 0 || key != prefixHandoff+"."+hashKey(ev.Key()) {
			return errors.New("not an alert event")
		}
		if keep(ev.Site) {
			out = append(out, ev)
		}
		return nil
	})
	slices.SortStableFunc(out, func(a, b alerting.Event) int { return a.At.Compare(b.At) })
	return out, err
}

// each calls fn with every live entry under filters. An entry fn refuses
// is damaged: it is reported by Quarantined and left where it is (another
// instance may be able to read what this version cannot), and the others
// are still read.
func (s *Store) each(ctx context.Context, filters []string, fn func(key string, v []byte) error) error {
	w, err := s.kv.WatchFiltered(ctx, filters, jetstream.IgnoreDeletes())
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("alert state listing ended early")
			}
			if e == nil {
				return nil // every entry there was has come
			}
			if err := fn(e.Key(), e.Value()); err != nil {
				s.quarantine(e.Key(), err)
			}
		}
	}
}

func (s *Store) quarantine(key string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quarantined = append(s.quarantined, alerting.Damaged{Bucket: "jetstream", Key: key, Err: err.Error(), At: time.Now().UTC()})
}

// Quarantined lists the damaged entries met since the store was opened.
func (s *Store) Quarantined() []alerting.Damaged {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.quarantined)
}

func sortByTime(evs []alerting.Event) {
	slices.SortStableFunc(evs, func(a, b alerting.Event) int { return a.At.Compare(b.At) })
}

// WatchRecords calls fn with every kept alert of the cluster, then with
// each change until ctx ends: the record written, or nil once the alert
// id is forgotten. It returns when ctx ends or the watch fails.
func (s *Store) WatchRecords(ctx context.Context, fn func(id string, r *alerting.Record)) error {
	w, err := s.kv.Watch(ctx, prefixRecord+".>")
	if err != nil {
		return err
	}
	return follow(ctx, w, func(e jetstream.KeyValueEntry) {
		_, rest, ok := tokens(e.Key())
		if !ok || len(rest) != 2 {
			return
		}
		if e.Operation() != jetstream.KeyValuePut {
			fn(rest[1], nil)
			return
		}
		var r alerting.Record
		if json.Unmarshal(e.Value(), &r) != nil || r.ID != rest[1] {
			return
		}
		fn(r.ID, &r)
	})
}

// follow hands fn each entry w delivers (the marker that the entries
// kept so far have all come left out) until ctx ends, and stops w. It
// returns nil when ctx ends, an error when the watch ends first.
func follow(ctx context.Context, w jetstream.KeyWatcher, fn func(jetstream.KeyValueEntry)) error {
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				// The watcher closes its channel when ctx ends too, and
				// select may see the closed channel first: that is the
				// caller's own stop, not a failure.
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("alert state watch ended")
			}
			if e != nil {
				fn(e)
			}
		}
	}
}
