package sparkplug

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A Tracker with a directory (see Restore) keeps each edge node's BIRTH
// definitions there, one JSON file per edge node, rewritten at each
// NBIRTH, DBIRTH and DDEATH and removed at NDEATH. After a restart DATA
// that arrives before the next BIRTH (an edge node does not rebirth for
// a host that merely restarted, and one that buffered for the host's
// STATE replays its buffer first) is read with the aliases and datatypes
// of the session whose bdSeq the file names instead of being rejected as
// unknown_alias. Writing only at BIRTH and DEATH keeps the cost off the
// data path; the files are not synced, since a lost or damaged file only
// costs a rebirth request.

// savedNode is the file of one edge node.
type savedNode struct {
	Group   string                   `json:"group"`
	Edge    string                   `json:"edge"`
	BdSeq   *uint64                  `json:"bd_seq,omitempty"`
	Metrics []savedMetric            `json:"metrics"`
	Devices map[string][]savedMetric `json:"devices,omitempty"`
}

type savedMetric struct {
	Name     string  `json:"name"`
	Alias    *uint64 `json:"alias,omitempty"`
	Datatype uint32  `json:"datatype"`
}

func (t metricTable) save() []savedMetric {
	out := make([]savedMetric, 0, len(t.byName))
	aliased := make(map[string]bool, len(t.byAlias))
	for a, d := range t.byAlias {
		out = append(out, savedMetric{Name: d.name, Alias: &a, Datatype: uint32(d.datatype)})
		aliased[d.name] = true
	}
	for n, dt := range t.byName {
		if !aliased[n] {
			out = append(out, savedMetric{Name: n, Datatype: uint32(dt)})
		}
	}
	// Sorted by name and alias, so one table always encodes alike: a
	// tracker tells its own state, seen again in a shared Store, by it.
	slices.SortFunc(out, func(a, b savedMetric) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return cmp.Compare(aliasOf(a), aliasOf(b))
	})
	return out
}

// aliasOf orders a metric without alias before those with one.
func aliasOf(m savedMetric) int64 {
	if m.Alias == nil {
		return -1
	}
	return int64(min(*m.Alias, 1<<62))
}

func loadTable(ms []savedMetric) metricTable {
	t := metricTable{byAlias: make(map[uint64]metricDef), byName: make(map[string]dataType, len(ms))}
	for _, m := range ms {
		if m.Name == "" {
			continue
		}
		t.byName[m.Name] = dataType(m.Datatype)
		if m.Alias != nil {
			t.byAlias[*m.Alias] = metricDef{m.Name, dataType(m.Datatype)}
		}
	}
	return t
}

// nodeFile is the file name of an edge node: a hash, since group and edge
// ids may hold any character and be longer than a file name may.
func nodeFile(dir string, k nodeKey) string {
	return filepath.Join(dir, nodeID(k)+".json")
}

// nodeID names an edge node in a directory or a Store.
func nodeID(k nodeKey) string {
	h := sha256.Sum256([]byte(k.group + "\x00" + k.edge))
	return hex.EncodeToString(h[:16])
}

// Store keeps the edge nodes' BIRTH definitions outside the process, in
// place of a directory: in a cluster, a key-value bucket that every
// instance reads, so the instance that takes a site over reads its edge
// nodes' DATA with the aliases their last BIRTH declared (see Apply).
// Keys are 32 hexadecimal digits.
type Store interface {
	Put(key string, b []byte) error
	Delete(key string) error
}

// UseStore makes the tracker keep its edge nodes' BIRTH definitions in s
// instead of a directory. Call it before the first Handle.
func (t *Tracker) UseStore(s Store) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.store = s
}

// Apply takes an edge node's definitions that another tracker kept in
// the shared Store, as Restore takes them from a file: the node counts
// as born in that session, and its first DATA here also asks for a
// rebirth. Definitions the node already has here (this tracker's own
// write, seen again) change nothing.
func (t *Tracker) Apply(b []byte) error {
	var s savedNode
	if err := json.Unmarshal(b, &s); err != nil || s.Group == "" || s.Edge == "" {
		return fmt.Errorf("sparkplug state: not an edge node's state (%v)", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := nodeKey{s.Group, s.Edge}
	if n, ok := t.nodes[k]; ok && string(n.snapshot(k)) == string(b) {
		return nil
	}
	t.load(s)
	return nil
}

// Forget drops the edge node whose definitions were removed from the
// shared Store (its NDEATH, handled by another tracker).
func (t *Tracker) Forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, n := range t.nodes {
		if nodeID(k) == key && n.born {
			n.born, n.restored, n.devices, n.hasSeq = false, false, nil, false
		}
	}
}

// load makes s the node's state, as kept and not seen born here. Called
// with the tracker locked.
func (t *Tracker) load(s savedNode) {
	nd := t.node(s.Group, s.Edge)
	nd.born, nd.restored, nd.hasSeq = true, true, false
	nd.bdSeq, nd.hasBdSeq = 0, false
	if s.BdSeq != nil {
		nd.bdSeq, nd.hasBdSeq = *s.BdSeq, true
	}
	nd.metrics = loadTable(s.Metrics)
	nd.devices = nil
	for d, ms := range s.Devices {
		if nd.devices == nil {
			nd.devices = make(map[string]*metricTable, len(s.Devices))
		}
		tab := loadTable(ms)
		nd.devices[d] = &tab
	}
}

// snapshot encodes n for its file, or returns nil when the node is not
// born and its file is to go. Called with the tracker locked.
func (n *node) snapshot(k nodeKey) []byte {
	if !n.born {
		return nil
	}
	s := savedNode{Group: k.group, Edge: k.edge, Metrics: n.metrics.save()}
	if n.hasBdSeq {
		bd := n.bdSeq
		s.BdSeq = &bd
	}
	if len(n.devices) > 0 {
		s.Devices = make(map[string][]savedMetric, len(n.devices))
		for d, tab := range n.devices {
			s.Devices[d] = tab.save()
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil // strings, numbers and maps of them always encode
	}
	return b
}

// persist writes (or with b nil removes) an edge node's file. It runs
// outside the tracker's lock: one node's messages are handled by one
// goroutine, so two writes of one file never race.
func (t *Tracker) persist(k nodeKey, b []byte) error {
	if t.store != nil {
		var err error
		if b == nil {
			err = t.store.Delete(nodeID(k))
		} else {
			err = t.store.Put(nodeID(k), b)
		}
		if err != nil {
			return fmt.Errorf("sparkplug state: %w", err)
		}
		return nil
	}
	if t.dir == "" {
		return nil
	}
	path := nodeFile(t.dir, k)
	if b == nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sparkplug state: %w", err)
		}
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("sparkplug state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("sparkplug state: %w", err)
	}
	return nil
}

// Restore makes the tracker keep its edge nodes' BIRTH definitions in
// dir (created if missing) and loads those a previous run left there.
// Call it before the first Handle. Restored nodes are taken as born in
// the session of the saved bdSeq; the first DATA of each also asks for a
// rebirth, so a node that was reborn while riskmon was away is soon
// read with its present aliases. Files that cannot be read are skipped
// and listed in the returned error; the rest are restored.
func (t *Tracker) Restore(dir string) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("sparkplug state: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dir = dir
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return 0, fmt.Errorf("sparkplug state: %w", err)
	}
	var errs []error
	n := 0
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var s savedNode
		if err := json.Unmarshal(b, &s); err != nil || s.Group == "" || s.Edge == "" {
			errs = append(errs, fmt.Errorf("%s: not an edge node's state (%v); its node will be asked to rebirth", name, err))
			continue
		}
		t.load(s)
		n++
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("sparkplug state: %w", errors.Join(errs...))
	}
	return n, nil
}

// Len is the number of edge nodes the tracker knows.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.nodes)
}
