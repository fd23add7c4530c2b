package jskv

import (
	"context"
	"errors"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is one kind of small entry of the store, by key: the shelves,
// or the flapping state. It implements lifecycle.KV.
type Bucket struct {
	s *Store
	// prefix is the kind's first key token.
	prefix string
	// site returns the site an entry's key belongs to; nil for entries
	// of the whole cluster (shelves).
	site func(key string) string
	// sites, when not nil, limits Each to these sites; otherwise Each
	// lists the sites the store's Owns holds.
	sites []string
}

// Shelves is the bucket of the active shelves. They are the cluster's:
// a shelf made on one instance covers the alerts of every other.
func (s *Store) Shelves() Bucket { return Bucket{s: s, prefix: prefixShelf} }

// Flapping is the bucket of the flapping state, kept by site: Each lists
// the sites this instance holds.
func (s *Store) Flapping() Bucket { return Bucket{s: s, prefix: prefixFlap, site: flapSite} }

// FlappingOf is the flapping bucket of the given sites alone, whoever
// holds them: what an instance taking them over loads.
func (s *Store) FlappingOf(sites []string) Bucket {
	b := s.Flapping()
	b.sites = slices.Clone(sites)
	if b.sites == nil {
		b.sites = []string{}
	}
	return b
}

func (b Bucket) key(k string) string {
	if b.site == nil {
		return b.prefix + "." + escape(k)
	}
	return flapKey(b.site(k), k)
}

func (b Bucket) filters() []string {
	switch {
	case b.site == nil || b.sites == nil:
		return []string{b.prefix + ".>"}
	default:
		out := make([]string, len(b.sites))
		for i, site := range b.sites {
			out[i] = siteFlaps(site)
		}
		return out
	}
}

// Each calls fn with every entry; one fn refuses is reported by
// Store.Quarantined and the others are still read.
func (b Bucket) Each(fn func(k, v []byte) error) error {
	if b.sites != nil && len(b.sites) == 0 {
		return nil
	}
	ctx, cancel := b.s.ctx()
	defer cancel()
	return b.each(ctx, fn)
}

func (b Bucket) each(ctx context.Context, fn func(k, v []byte) error) error {
	return b.s.each(ctx, b.filters(), func(key string, v []byte) error {
		_, rest, ok := tokens(key)
		if !ok || len(rest) == 0 {
			return errors.New("key not written by riskmon")
		}
		k := rest[len(rest)-1]
		if b.site != nil {
			if len(rest) != 2 || b.site(k) != rest[0] {
				return errors.New("flapping key not under its site")
			}
			if b.sites == nil && !b.s.owns(rest[0]) {
				return nil
			}
		}
		return fn([]byte(k), v)
	})
}

// Put writes one entry.
func (b Bucket) Put(key string, v []byte) error {
	ctx, cancel := b.s.ctx()
	defer cancel()
	_, err := b.s.kv.Put(ctx, b.key(key), v)
	return err
}

// Delete removes one entry.
func (b Bucket) Delete(key string) error {
	ctx, cancel := b.s.ctx()
	defer cancel()
	err := b.s.kv.Delete(ctx, b.key(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}

// WatchChanges calls fn after each change of the bucket's entries made
// from now on, by any instance, until ctx ends; it returns when ctx ends
// or the watch fails. Shelves made on one instance reach the others so.
func (b Bucket) WatchChanges(ctx context.Context, fn func()) error {
	w, err := b.s.kv.WatchFiltered(ctx, b.filters(), jetstream.UpdatesOnly())
	if err != nil {
		return err
	}
	return follow(ctx, w, func(jetstream.KeyValueEntry) { fn() })
}
