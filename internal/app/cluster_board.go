package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/alerting/store/jskv"
	"github.com/riskmon/riskmon/cluster"
)

// clusterBoard is, in a cluster, the console's read model of alerts and
// its acknowledger: the alerts this instance's lifecycle holds, and
// those the other instances keep in the replicated bucket, followed by a
// watch on it, so every instance shows the whole cluster's board. An
// acknowledgement of another instance's alert is sent to the instance
// holding its site, which acknowledges it as if it were made there.
type clusterBoard struct {
	local  *lifecycle.Lifecycle
	shared *jskv.Store
	node   *cluster.Node
	log    *slog.Logger

	mu sync.RWMutex
	// kept are the open alerts of the bucket, by id. Guarded by mu.
	kept map[string]alerting.Record
	// onShelves runs when another instance changed the shelves.
	onShelves func()
	// remote takes the alert events of the other instances (the hub's
	// Event), so this instance's consoles see them live; out queues this
	// instance's events for them.
	remote func(alerting.Event)
	out    chan alerting.Event
}

// eventSubject is where instance id publishes its alert events for the
// other instances' consoles.
func eventSubject(id string) string { return "riskmon.events." + id }

// relayQueue bounds the events waiting to be published to the other
// instances; past it an event is dropped for their live streams only
// (their boards still read the bucket).
const relayQueue = 4096

// Emit queues an alert event of this instance for the other instances'
// consoles. The engine calls it with a shard lock held: it never blocks.
func (b *clusterBoard) Emit(ev alerting.Event) {
	select {
	case b.out <- ev:
	default:
		b.log.Warn("alert event not relayed to the other instances' consoles: queue full; their boards still list it", "alert_id", ev.AlertID)
	}
}

// relay publishes this instance's events and hands the other instances'
// to remote until ctx ends. Core NATS, at most once: a lost event only
// delays a console's live view until its next load of the board, which
// reads the bucket.
func (b *clusterBoard) relay(ctx context.Context) error {
	own := eventSubject(b.node.Instance())
	sub, err := b.node.Conn().Subscribe(eventSubject("*"), func(m *nats.Msg) {
		if m.Subject == own || b.remote == nil {
			return
		}
		var ev alerting.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			b.log.Warn("alert event from another instance not read", "subject", m.Subject, "err", err)
			return
		}
		b.remote(ev)
	})
	if err != nil {
		return fmt.Errorf("cluster alert events: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-b.out:
			data, err := json.Marshal(ev)
			if err == nil {
				err = b.node.Conn().Publish(own, data)
			}
			if err != nil {
				b.log.Warn("alert event not relayed to the other instances' consoles", "alert_id", ev.AlertID, "err", err)
			}
		}
	}
}

// ackSubject is where instance id takes acknowledgements made elsewhere.
func ackSubject(id string) string { return "riskmon.ack." + id }

// ackRequest and ackReply cross between instances.
type ackRequest struct {
	ID      string `json:"id"`
	User    string `json:"user"`
	Comment string `json:"comment"`
}

type ackReply struct {
	Record   *alerting.Record `json:"record,omitempty"`
	Error    string           `json:"error,omitempty"`
	NotFound bool             `json:"not_found,omitempty"`
}

func newClusterBoard(local *lifecycle.Lifecycle, shared *jskv.Store, node *cluster.Node, log *slog.Logger) *clusterBoard {
	return &clusterBoard{local: local, shared: shared, node: node, log: log, kept: map[string]alerting.Record{},
		out: make(chan alerting.Event, relayQueue)}
}

// run follows the bucket's alerts and shelves and answers the
// acknowledgements sent to this instance until ctx ends.
func (b *clusterBoard) run(ctx context.Context) error {
	sub, err := b.node.Conn().Subscribe(ackSubject(b.node.Instance()), b.answer)
	if err != nil {
		return fmt.Errorf("cluster acknowledgements: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	go func() {
		if err := b.relay(ctx); err != nil {
			b.log.Error("the other instances' alert events do not reach this instance's consoles", "err", err)
		}
	}()
	if b.onShelves != nil {
		go b.follow(ctx, "shelves", func(ctx context.Context) error { return b.shared.Shelves().WatchChanges(ctx, b.onShelves) })
	}
	b.follow(ctx, "alerts", func(ctx context.Context) error {
		return b.shared.WatchRecords(ctx, func(id string, r *alerting.Record) {
			b.mu.Lock()
			defer b.mu.Unlock()
			if r == nil {
				delete(b.kept, id)
			} else {
				b.kept[id] = *r
			}
		})
	})
	return nil
}

// follow runs watch until ctx ends, again after a pause when it fails.
func (b *clusterBoard) follow(ctx context.Context, what string, watch func(context.Context) error) {
	for ctx.Err() == nil {
		if err := watch(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("watch of the cluster's "+what+" interrupted; resuming", "err", err)
			sleepCtx(ctx, time.Second)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// answer acknowledges, here, an alert acknowledged on another instance.
func (b *clusterBoard) answer(m *nats.Msg) {
	var req ackRequest
	var rep ackReply
	if err := json.Unmarshal(m.Data, &req); err != nil {
		rep.Error = "bad request: " + err.Error()
	} else if r, err := b.local.Ack(req.ID, req.User, req.Comment); err != nil {
		rep.Error, rep.NotFound = err.Error(), errors.Is(err, lifecycle.ErrNoAlert)
	} else {
		rep.Record = &r
	}
	v, _ := json.Marshal(rep)
	_ = m.Respond(v)
}

// Ack acknowledges alert id: here when this instance holds it, else on
// the instance holding its site.
func (b *clusterBoard) Ack(id, user, comment string) (alerting.Record, error) {
	if _, ok := b.local.Get(id); ok {
		return b.local.Ack(id, user, comment)
	}
	b.mu.RLock()
	r, ok := b.kept[id]
	b.mu.RUnlock()
	if !ok {
		return b.local.Ack(id, user, comment) // its error names the alert
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	holder, err := b.node.Holder(ctx, r.Site)
	switch {
	case err != nil:
		return alerting.Record{}, fmt.Errorf("acknowledge %s: the holder of site %s is not known: %w", id, r.Site, err)
	case holder == "" || holder == b.node.Instance():
		// Between holders: the next one takes the alert up in a moment.
		return alerting.Record{}, fmt.Errorf("acknowledge %s: site %s is changing instance; try again in a few seconds", id, r.Site)
	}
	req, _ := json.Marshal(ackRequest{ID: id, User: user, Comment: comment})
	msg, err := b.node.Conn().RequestWithContext(ctx, ackSubject(holder), req)
	if err != nil {
		return alerting.Record{}, fmt.Errorf("acknowledge %s on instance %s: %w", id, holder, err)
	}
	var rep ackReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return alerting.Record{}, fmt.Errorf("acknowledge %s on instance %s: %w", id, holder, err)
	}
	switch {
	case rep.NotFound:
		return alerting.Record{}, fmt.Errorf("acknowledge %s: %w", id, lifecycle.ErrNoAlert)
	case rep.Error != "":
		return alerting.Record{}, fmt.Errorf("acknowledge %s on instance %s: %s", id, holder, rep.Error)
	case rep.Record == nil:
		return alerting.Record{}, fmt.Errorf("acknowledge %s on instance %s: empty answer", id, holder)
	}
	b.mu.Lock()
	if cur, ok := b.kept[id]; !ok || cur.Version < rep.Record.Version {
		b.kept[id] = *rep.Record
	}
	b.mu.Unlock()
	return *rep.Record, nil
}

// others lists the bucket's alerts this instance's lifecycle does not
// hold.
func (b *clusterBoard) others() []alerting.Record {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]alerting.Record, 0, len(b.kept))
	for id, r := range b.kept {
		if _, mine := b.local.Get(id); !mine {
			out = append(out, r)
		}
	}
	return out
}

// Recent is the lifecycle's open and recently closed alerts, with the
// other instances' open ones.
func (b *clusterBoard) Recent() []alerting.Record { return append(b.local.Recent(), b.others()...) }

// Find returns an alert held here or kept by another instance.
func (b *clusterBoard) Find(id string) (alerting.Record, bool) {
	if r, ok := b.local.Find(id); ok {
		return r, true
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	r, ok := b.kept[id]
	return r, ok
}

// Open lists the cluster's open alerts, most severe first, then newest.
func (b *clusterBoard) Open() []alerting.Record {
	out := append(b.local.Open(), b.others()...)
	slices.SortStableFunc(out, func(x, y alerting.Record) int {
		lx, ly := x.Level, y.Level
		if lx == 0 {
			lx = x.MaxLevel
		}
		if ly == 0 {
			ly = y.MaxLevel
		}
		if lx != ly {
			return int(lx) - int(ly)
		}
		return y.StartsAt.Compare(x.StartsAt)
	})
	return out
}
