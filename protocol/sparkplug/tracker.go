package sparkplug

import (
	"fmt"
	"github.com/riskmon/riskmon/protocol"
	"strings"
	"sync"
	"time"

	"github.com/riskmon/riskmon/protocol/sparkplug/spb"
	"google.golang.org/protobuf/proto"
)

// DefaultRebirthBackoff is the RebirthBackoff of NewTracker.
const DefaultRebirthBackoff = 10 * time.Second

// Event is a change of an edge node's or a device's status that a message
// signals.
type Event uint8

// Events. The zero value is no change.
const (
	EventNone    Event = iota
	EventOnline        // NBIRTH (node) or DBIRTH (device)
	EventOffline       // NDEATH (node) or DDEATH (device)
)

func (e Event) String() string {
	switch e {
	case EventOnline:
		return "online"
	case EventOffline:
		return "offline"
	}
	return "none"
}

// Result is what one message means to riskmon.
type Result struct {
	Site    string // group_id
	Gateway string // edge_node_id
	Device  string // device_id of device messages; with a metric name, a Sparkplug address
	Type    MessageType
	// Readings holds one entry per metric that is a measurement, in
	// message order; bookkeeping metrics (bdSeq, Node Control/*,
	// Properties/*) and template definitions are left out.
	Readings []protocol.Reading
	// SeqGap is how many messages of the edge node went missing before
	// this one, judging by seq (0..255, wrapping); 0 when in order or
	// when there is no earlier seq to compare with. A duplicate or a
	// message arriving late shows as a gap of up to 255: eight bits
	// cannot tell them apart from loss.
	SeqGap int
	// NeedRebirth asks the caller to publish RebirthRequest for the edge
	// node: a DATA message arrived before the BIRTH that defines its
	// metrics or used an alias no BIRTH defined (such readings are
	// rejected with ReasonUnknownAlias; metrics sent by name still
	// count), or a DBIRTH came without an NBIRTH. It is set at most once per
	// Tracker.RebirthBackoff per edge node, so a node that keeps
	// publishing before its new BIRTH arrives is not flooded.
	NeedRebirth bool
	// Event is the status change this message signals for the edge node
	// (Device empty) or the device.
	Event Event
	// StaleDeath is set for an NDEATH whose bdSeq is not that of the
	// node's last NBIRTH: the broker published the will of an older
	// session after the node had already reconnected, so the node is
	// still online and Event is EventNone.
	StaleDeath bool
	// SaveErr is set when the tracker could not keep the node's BIRTH
	// definitions in its directory (see Restore); the message itself was
	// handled.
	SaveErr error
}

// Tracker follows the Sparkplug state of edge nodes: the metric aliases
// and datatypes each NBIRTH and DBIRTH defined, the bdSeq of the last
// NBIRTH, and the seq expected next. One Tracker serves any number of
// edge nodes and is safe for concurrent use. Messages of one edge node
// must be handled in the order they arrived, which MQTT guarantees for one
// subscription and the caller must keep: route one node's messages to
// one goroutine.
//
// A Tracker keeps a small entry for every edge node it has seen, for as
// long as it lives; the fleet bounds their number. The zero Tracker is
// ready to use, with no rebirth backoff.
type Tracker struct {
	// RebirthBackoff is the least time between two NeedRebirth results
	// for one edge node. Set it before the first Handle.
	RebirthBackoff time.Duration

	mu    sync.Mutex
	nodes map[nodeKey]*node
	dir   string // set by Restore
	store Store  // set by UseStore
}

// NewTracker returns a Tracker with DefaultRebirthBackoff.
func NewTracker() *Tracker {
	return &Tracker{RebirthBackoff: DefaultRebirthBackoff}
}

type nodeKey struct{ group, edge string }

// node is the state of one edge node.
type node struct {
	born     bool // an NBIRTH arrived and no matching NDEATH since
	bdSeq    uint64
	hasBdSeq bool
	nextSeq  uint8
	hasSeq   bool // nextSeq is known
	metrics  metricTable
	devices  map[string]*metricTable // born devices
	// lastRebirth is when NeedRebirth was last returned.
	lastRebirth time.Time
	// restored: the definitions come from the state directory, not from
	// a BIRTH this run saw.
	restored bool
}

// metricDef is what a BIRTH says about one metric.
type metricDef struct {
	name     string
	datatype dataType
}

// metricTable holds the metrics a BIRTH defined, by alias and by name.
type metricTable struct {
	byAlias map[uint64]metricDef
	byName  map[string]dataType
}

func newMetricTable(metrics []*spb.Payload_Metric) metricTable {
	t := metricTable{
		byAlias: make(map[uint64]metricDef),
		byName:  make(map[string]dataType, len(metrics)),
	}
	for _, m := range metrics {
		name := m.GetName()
		if name == "" {
			continue // a BIRTH must name every metric; nothing to learn
		}
		dt := dataType(m.GetDatatype())
		t.byName[name] = dt
		if m.Alias != nil {
			t.byAlias[*m.Alias] = metricDef{name, dt}
		}
	}
	return t
}

// Handle interprets one Sparkplug message received on topic at now. now
// is only used to pace rebirth requests.
//
// A returned *protocol.Error rejects the whole message: ReasonBadTopic for a topic
// that is not a Sparkplug B topic or has an unknown message type,
// ReasonMalformed for a payload that is not a Sparkplug B protobuf, and
// ReasonBadSchema for a seq above 255. Problems with single metrics only
// reject their protocol.Reading. NCMD, DCMD and STATE messages are commands and
// host status, not edge node data: their payload is not decoded and
// their Result only names the topic.
func (t *Tracker) Handle(topic string, payload []byte, now time.Time) (Result, error) {
	tp, err := ParseTopic(topic)
	if err != nil {
		return Result{}, err
	}
	res := Result{Site: tp.Group, Gateway: tp.Edge, Device: tp.Device, Type: tp.Type}
	switch tp.Type {
	case NCMD, DCMD, STATE:
		return res, nil
	}
	// Unmarshal outside the lock: it is most of the work.
	var p spb.Payload
	if err := proto.Unmarshal(payload, &p); err != nil {
		return Result{}, &protocol.Error{Reason: ReasonMalformed, Msg: tp.Type.String() + " payload is not a Sparkplug B protobuf", Err: err}
	}
	if p.Seq != nil && *p.Seq > 255 {
		return Result{}, &protocol.Error{Reason: ReasonBadSchema, Msg: fmt.Sprintf("seq %d is above 255", *p.Seq)}
	}

	t.mu.Lock()
	n := t.node(tp.Group, tp.Edge)
	save := t.handle(n, tp, &p, &res, now)
	var snap []byte
	if save {
		snap = n.snapshot(nodeKey{tp.Group, tp.Edge})
	}
	t.mu.Unlock()
	if save {
		res.SaveErr = t.persist(nodeKey{tp.Group, tp.Edge}, snap)
	}
	return res, nil
}

// handle applies one decoded message to its node's state and fills res.
// It reports whether the node's BIRTH definitions changed, so its file
// is to be written again.
func (t *Tracker) handle(n *node, tp Topic, p *spb.Payload, res *Result, now time.Time) (save bool) {
	switch tp.Type {
	case NBIRTH:
		// A new session: everything known about the node and its devices
		// is from the old one.
		n.born, n.restored = true, false
		n.bdSeq, n.hasBdSeq = bdSeq(p)
		n.metrics = newMetricTable(p.Metrics)
		n.devices = nil
		n.hasSeq = false
		n.checkSeq(p)
		res.Event = EventOnline
		res.Readings = readings(p, &n.metrics)
		save = true
	case NDEATH:
		// NDEATH is the node's MQTT will and carries no seq.
		if bd, ok := bdSeq(p); ok && n.born && n.hasBdSeq && bd != n.bdSeq {
			res.StaleDeath = true
			return false
		}
		// Without a bdSeq on either side, or with no NBIRTH seen since
		// riskmon started, nothing shows the death to be stale.
		n.born = false
		n.devices = nil
		n.hasSeq = false
		res.Event = EventOffline
		save = true
	case DBIRTH:
		res.SeqGap = n.checkSeq(p)
		if !n.born {
			// The device's own aliases are usable, but the node's BIRTH
			// is missing: ask for all of it again.
			res.NeedRebirth = n.wantRebirth(now, t.RebirthBackoff)
		}
		tab := newMetricTable(p.Metrics)
		if n.devices == nil {
			n.devices = make(map[string]*metricTable)
		}
		n.devices[tp.Device] = &tab
		res.Event = EventOnline
		res.Readings = readings(p, &tab)
		save = true
	case DDEATH:
		res.SeqGap = n.checkSeq(p)
		delete(n.devices, tp.Device)
		res.Event = EventOffline
		save = true
	case NDATA, DDATA:
		res.SeqGap = n.checkSeq(p)
		var tab *metricTable
		if tp.Type == NDATA && n.born {
			tab = &n.metrics
		} else if tp.Type == DDATA {
			tab = n.devices[tp.Device]
		}
		var unknown bool
		res.Readings, unknown = dataReadings(p, tab)
		if tab == nil || unknown || n.restored {
			// A restored node is asked once to confirm its definitions:
			// it may have been reborn with other aliases while riskmon
			// was away.
			res.NeedRebirth = n.wantRebirth(now, t.RebirthBackoff)
			if res.NeedRebirth {
				n.restored = false
			}
		}
	}
	return save
}

// node returns the state of an edge node, creating it on first sight.
func (t *Tracker) node(group, edge string) *node {
	if t.nodes == nil {
		t.nodes = make(map[nodeKey]*node)
	}
	k := nodeKey{group, edge}
	n := t.nodes[k]
	if n == nil {
		// The key's strings point into the topic; keep copies so a map
		// entry does not pin a message's topic.
		n = &node{}
		t.nodes[nodeKey{strings.Clone(group), strings.Clone(edge)}] = n
	}
	return n
}

// checkSeq compares p's seq with the one expected and returns how many
// messages went missing in between. seq counts modulo 256 over all
// messages of the node except NDEATH; the uint8 arithmetic does the wrap.
func (n *node) checkSeq(p *spb.Payload) int {
	if p.Seq == nil {
		return 0
	}
	seq := uint8(*p.Seq)
	gap := 0
	if n.hasSeq {
		gap = int(seq - n.nextSeq)
	}
	n.nextSeq, n.hasSeq = seq+1, true
	return gap
}

// wantRebirth reports whether to ask the node for a rebirth now, and if
// so remembers that it did.
func (n *node) wantRebirth(now time.Time, backoff time.Duration) bool {
	// A clock that went backwards does not hold requests back.
	if since := now.Sub(n.lastRebirth); !n.lastRebirth.IsZero() && since >= 0 && since < backoff {
		return false
	}
	n.lastRebirth = now
	return true
}

// bdSeq returns the value of the payload's bdSeq metric.
func bdSeq(p *spb.Payload) (uint64, bool) {
	for _, m := range p.Metrics {
		if m.GetName() != "bdSeq" {
			continue
		}
		switch v := m.GetValue().(type) {
		case *spb.Payload_Metric_LongValue:
			return v.LongValue, true
		case *spb.Payload_Metric_IntValue:
			return uint64(v.IntValue), true
		}
	}
	return 0, false
}

// readings converts the metrics of a BIRTH, which name every metric, with
// the datatypes of the table the BIRTH just built.
func readings(p *spb.Payload, tab *metricTable) []protocol.Reading {
	out := make([]protocol.Reading, 0, len(p.Metrics))
	for _, m := range p.Metrics {
		name := m.GetName()
		if name == "" {
			out = append(out, protocol.Reading{Reject: ReasonMissingSensor, Detail: "BIRTH metric has no name"})
			continue
		}
		if r, ok := reading(p, m, name, tab.byName[name]); ok {
			out = append(out, r)
		}
	}
	return out
}

// dataReadings converts the metrics of a DATA message, resolving aliases
// with tab, which is nil when no BIRTH defined the node or device. It
// reports whether a metric could not be resolved.
func dataReadings(p *spb.Payload, tab *metricTable) (out []protocol.Reading, unknown bool) {
	out = make([]protocol.Reading, 0, len(p.Metrics))
	for _, m := range p.Metrics {
		name := m.GetName()
		var dt dataType
		if m.Alias != nil && tab != nil {
			if def, ok := tab.byAlias[*m.Alias]; ok {
				if name == "" {
					name = def.name
				}
				dt = def.datatype
			}
		}
		if name == "" {
			if m.Alias == nil {
				out = append(out, protocol.Reading{Reject: ReasonMissingSensor, Detail: "metric has neither a name nor an alias"})
				continue
			}
			unknown = true
			out = append(out, protocol.Reading{Reject: ReasonUnknownAlias, Detail: fmt.Sprintf("alias %d is not defined by a BIRTH", *m.Alias)})
			continue
		}
		if dt == dtUnknown && tab != nil {
			dt = tab.byName[name]
		}
		if r, ok := reading(p, m, name, dt); ok {
			out = append(out, r)
		}
	}
	return out, unknown
}

// reading converts one named metric. birthType is the datatype its BIRTH
// gave, used when the metric does not repeat it. It reports false for
// metrics that are not measurements.
func reading(p *spb.Payload, m *spb.Payload_Metric, name string, birthType dataType) (protocol.Reading, bool) {
	if notReading(name) || m.GetTemplateValue().GetIsDefinition() {
		return protocol.Reading{}, false
	}
	r := protocol.Reading{Sensor: name, Historical: m.GetIsHistorical()}
	dt := dataType(m.GetDatatype())
	if dt == dtUnknown {
		dt = birthType
	}
	var reason, detail string
	if r.Time, reason, detail = metricTime(m, p.GetTimestamp()); reason != "" {
		r.Reject, r.Detail = reason, detail
		return r, true
	}
	if r.Value, reason, detail = metricValue(m, dt); reason != "" {
		r.Reject, r.Detail = reason, detail
	}
	return r, true
}
