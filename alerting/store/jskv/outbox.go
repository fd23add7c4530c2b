package jskv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskmon/riskmon/alerting"
)

// LocalOutbox is the instance's own durable outbox (the alert store's
// file); its methods are dispatch.Outbox's.
type LocalOutbox interface {
	Enqueue(notifiers []string, begun []bool, key string, ev alerting.Event) ([]uint64, error)
	Tried(notifier, key string) error
	Done(notifier string, seq uint64, key string, t time.Time) error
	Pending(notifier string, fn func(seq uint64, key string, ev alerting.Event, tried bool)) error
	PruneSent(cutoff time.Time) (int, error)
}

// Outbox is a dispatch.Outbox that pages a change once cluster-wide. Each
// notification is claimed in the bucket before it enters the instance's
// own outbox: the claim is a KV create of the key
// sent.{site}.{notifier}.{change}, which only one instance can win. Two
// instances that raise the same change (an instance frozen past its lease
// and let go, a takeover handing on again what the last holder had not
// confirmed) so page it once. Once sent, the claim is marked so.
//
// A claim whose holder died before it sent (no heartbeat any more) is
// taken over, by compare-and-set, by the next instance to raise the same
// change or by the one taking over the site (Unsent): the page may then
// go out twice, with the same idempotency key, rather than not at all.
type Outbox struct {
	local    LocalOutbox
	s        *Store
	instance string
	live     func(instance string) bool

	mu sync.Mutex
	// waiting maps the keys claimed here and not yet done to their site
	// and how many notifiers have still to finish, so Done finds the
	// claim. Guarded by mu.
	waiting map[string]*wait
}

type wait struct {
	site string
	left int
}

// Outbox wraps local with the cluster-wide claims of instance; live
// reports whether an instance still has a heartbeat.
func (s *Store) Outbox(local LocalOutbox, instance string, live func(string) bool) *Outbox {
	return &Outbox{local: local, s: s, instance: instance, live: live, waiting: map[string]*wait{}}
}

// claim is the value of a sent key.
type claim struct {
	By    string          `json:"by"`
	State string          `json:"state"` // claimed or sent
	At    time.Time       `json:"at"`
	Event *alerting.Event `json:"event,omitempty"` // while claimed
}

const (
	stateClaimed = "claimed"
	stateSent    = "sent"
)

func sentKey(site, notifier, key string) string {
	return prefixSent + "." + escape(site) + "." + escape(notifier) + "." + hashKey(key)
}

// Enqueue claims key for each notifier and adds ev to the local outbox of
// those whose claim this instance won; the others report sequence 0, as
// duplicates do. A claim the bucket does not answer counts as won: the
// notification may then go out twice, but not never.
func (o *Outbox) Enqueue(notifiers []string, begun []bool, key string, ev alerting.Event) ([]uint64, error) {
	var won []string
	var wonBegun []bool
	var at []int
	for i, n := range notifiers {
		ok, err := o.claim(n, key, ev)
		if err != nil || ok {
			won, at = append(won, n), append(at, i)
			wonBegun = append(wonBegun, i < len(begun) && begun[i])
		}
	}
	seqs := make([]uint64, len(notifiers))
	if len(won) == 0 {
		return seqs, nil
	}
	local, err := o.local.Enqueue(won, wonBegun, key, ev)
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		seqs[i] = local[j]
	}
	n := 0
	for _, seq := range local {
		if seq != 0 {
			n++
		}
	}
	if n > 0 {
		o.mu.Lock()
		if w := o.waiting[key]; w != nil {
			w.left += n
		} else {
			o.waiting[key] = &wait{site: ev.Site, left: n}
		}
		o.mu.Unlock()
	}
	return seqs, nil
}

// claim reports whether this instance may send ev to notifier: it
// created the claim, holds it already, or took over one whose holder is
// gone and had not sent it.
func (o *Outbox) claim(notifier, key string, ev alerting.Event) (bool, error) {
	ctx, cancel := o.s.ctx()
	defer cancel()
	k := sentKey(ev.Site, notifier, key)
	mine, err := json.Marshal(claim{By: o.instance, State: stateClaimed, At: time.Now().UTC(), Event: &ev})
	if err != nil {
		return false, err
	}
	for range maxAttempts {
		_, err := o.s.kv.Create(ctx, k, mine)
		if err == nil {
			return true, nil
		}
		if !conflict(err) {
			return false, fmt.Errorf("claim of %s: %w", ev.AlertID, err)
		}
		e, err := o.s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // pruned in between: create it again
		}
		if err != nil {
			return false, fmt.Errorf("claim of %s: %w", ev.AlertID, err)
		}
		var c claim
		if json.Unmarshal(e.Value(), &c) != nil {
			return false, nil // not ours to judge; another version wrote it
		}
		switch {
		case c.State == stateSent:
			return false, nil
		case c.By == o.instance:
			return true, nil // the local outbox refuses a second copy
		case o.live(c.By):
			return false, nil // its holder is there to send it
		}
		if _, err := o.s.kv.Update(ctx, k, mine, e.Revision()); err == nil {
			return true, nil
		} else if !conflict(err) {
			return false, fmt.Errorf("claim of %s: %w", ev.AlertID, err)
		}
	}
	return false, fmt.Errorf("claim of %s: still contended after %d attempts", ev.AlertID, maxAttempts)
}

// Tried records locally that a send begins.
func (o *Outbox) Tried(notifier, key string) error { return o.local.Tried(notifier, key) }

// Done takes the notification out of the local outbox and marks its
// claim sent, so no other instance sends it again.
func (o *Outbox) Done(notifier string, seq uint64, key string, t time.Time) error {
	err := o.local.Done(notifier, seq, key, t)
	o.mu.Lock()
	w, ok := o.waiting[key]
	site := ""
	if ok {
		site = w.site
		if w.left--; w.left <= 0 {
			delete(o.waiting, key)
		}
	}
	o.mu.Unlock()
	if !ok {
		return err // claimed in an earlier life: it stays claimed by this instance
	}
	v, merr := json.Marshal(claim{By: o.instance, State: stateSent, At: t.UTC()})
	if merr != nil {
		return errors.Join(err, merr)
	}
	ctx, cancel := o.s.ctx()
	defer cancel()
	if _, perr := o.s.kv.Put(ctx, sentKey(site, notifier, key), v); perr != nil {
		err = errors.Join(err, fmt.Errorf("claim marked sent: %w", perr))
	}
	return err
}

// Pending lists the local outbox.
func (o *Outbox) Pending(notifier string, fn func(seq uint64, key string, ev alerting.Event, tried bool)) error {
	return o.local.Pending(notifier, fn)
}

// PruneSent prunes the local outbox's keys, and the claims in the bucket
// marked sent before cutoff, whoever sent them: the same retention as the
// local keys, after which a change raised again is paged again. Every
// instance prunes; a claim purged twice is purged once. Claims not marked
// sent are kept for whoever takes them over. It reports the local keys
// and the claims it pruned.
func (o *Outbox) PruneSent(cutoff time.Time) (int, error) {
	n, err := o.local.PruneSent(cutoff)
	ctx, cancel := context.WithTimeout(context.Background(), 4*o.s.timeout)
	defer cancel()
	var old []string
	werr := o.s.each(ctx, []string{prefixSent + ".>"}, func(k string, v []byte) error {
		var c claim
		if err := json.Unmarshal(v, &c); err != nil {
			return err
		}
		if c.State == stateSent && c.At.Before(cutoff) {
			old = append(old, k)
		}
		return nil
	})
	if werr != nil {
		return n, errors.Join(err, fmt.Errorf("list the claims to prune: %w", werr))
	}
	for _, k := range old {
		// Purge, not delete: with its marker the key's history goes too,
		// and PurgeDeletes then drops the markers.
		if perr := o.s.kv.Purge(ctx, k); perr != nil {
			return n, errors.Join(err, fmt.Errorf("prune claim %s: %w", k, perr))
		}
		n++
	}
	if len(old) > 0 {
		if perr := o.s.kv.PurgeDeletes(ctx); perr != nil {
			err = errors.Join(err, fmt.Errorf("drop the pruned claims' markers: %w", perr))
		}
	}
	return n, err
}

// Unsent returns, oldest first, the changes of the given sites claimed by
// an instance that is gone and not marked sent: what the instance taking
// the sites over must page, since nobody else will. Passed to the
// dispatcher's Emit, each is claimed again by this instance (Enqueue
// takes over a dead holder's claim) and sent.
func (o *Outbox) Unsent(ctx context.Context, sites []string) ([]alerting.Event, error) {
	if len(sites) == 0 {
		return nil, nil
	}
	filters := make([]string, len(sites))
	for i, site := range sites {
		filters[i] = prefixSent + "." + escape(site) + ".>"
	}
	seen := map[string]bool{}
	var out []alerting.Event
	err := o.s.each(ctx, filters, func(_ string, v []byte) error {
		var c claim
		if err := json.Unmarshal(v, &c); err != nil {
			return err
		}
		if c.State != stateClaimed || c.Event == nil || c.By == o.instance || o.live(c.By) {
			return nil
		}
		if k := c.Event.Key(); !seen[k] {
			seen[k] = true
			out = append(out, *c.Event)
		}
		return nil
	})
	sortByTime(out)
	return out, err
}
