package sparkplug

import (
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
	slices.SortFunc(out, func(a, b savedMetric) int { return strings.Compare(a.Name, b.Name) })
	return out
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
	h := sha256.Sum256([]byte(k.group + "\x00" + k.edge))
	return filepath.Join(dir, hex.EncodeToString(h[:16])+".json")
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
		nd := t.node(s.Group, s.Edge)
		nd.born, nd.restored = true, true
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
