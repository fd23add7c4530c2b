package sparkplug

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRestoreAcrossRestart: a tracker started on the directory an earlier
// one kept reads DATA by the aliases and datatypes of the BIRTHs the
// earlier one saw, asks once for a rebirth to confirm them, forgets a
// node whose NDEATH came, and skips a damaged file without losing the
// others.
func TestRestoreAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Unix(1764345600, 0)
	first := NewTracker()
	if n, err := first.Restore(dir); err != nil || n != 0 {
		t.Fatalf("empty dir: restored %d, %v", n, err)
	}
	handle := func(tr *Tracker, topic string, b []byte) Result {
		t.Helper()
		res, err := tr.Handle(topic, b, t0)
		if err != nil {
			t.Fatal(err)
		}
		if res.SaveErr != nil {
			t.Fatal(res.SaveErr)
		}
		return res
	}
	handle(first, "spBv1.0/hz-01/NBIRTH/gw-1", marshal(t, pl(0, bdSeqMetric(7), m("Tank1/Level", 1, dtFloat, float32(2)))))
	handle(first, "spBv1.0/hz-01/DBIRTH/gw-1/gas", marshal(t, pl(1, m("Gas/GT-101", 2, dtInt16, uint32(0)))))
	handle(first, "spBv1.0/hz-01/NBIRTH/gw-2", marshal(t, pl(0, bdSeqMetric(1), m("X", 1, dtDouble, 1.0))))
	handle(first, "spBv1.0/hz-01/NDEATH/gw-2", marshal(t, pl(-1, bdSeqMetric(1))))
	handle(first, "spBv1.0/hz-01/NBIRTH/gw-3", marshal(t, pl(0, bdSeqMetric(1), m("Y", 1, dtDouble, 1.0))))
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 2 {
		t.Fatalf("%d state files, want 2 (gw-1 and gw-3; gw-2 died)", len(files))
	}
	// Damage gw-3's file.
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), `"gw-3"`) {
			if err := os.WriteFile(f, b[:len(b)/2], 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	second := NewTracker()
	n, err := second.Restore(dir)
	if n != 1 || err == nil {
		t.Fatalf("restored %d nodes, err %v; want 1 and an error naming the damaged file", n, err)
	}
	// Int16 0xFFFE by alias 2 is -2 only if the DBIRTH's datatype came back.
	res := handle(second, "spBv1.0/hz-01/DDATA/gw-1/gas", marshal(t, pl(5, m("", 2, dtUnknown, uint32(0xFFFE)))))
	checkReadings(t, res.Readings, []want{{sensor: "Gas/GT-101", value: -2}})
	if !res.NeedRebirth {
		t.Error("first DATA of a restored node does not ask for a rebirth to confirm its aliases")
	}
	res = handle(second, "spBv1.0/hz-01/NDATA/gw-1", marshal(t, pl(6, m("", 1, dtUnknown, float32(3.5)))))
	checkReadings(t, res.Readings, []want{{sensor: "Tank1/Level", value: 3.5}})
	if res.NeedRebirth {
		t.Error("a restored node is asked for a rebirth twice")
	}
	res = handle(second, "spBv1.0/hz-01/NDATA/gw-2", marshal(t, pl(0, m("", 1, dtUnknown, 1.0))))
	checkReadings(t, res.Readings, []want{{reject: ReasonUnknownAlias}})
	// A stale will of an older session does not end the restored one.
	res = handle(second, "spBv1.0/hz-01/NDEATH/gw-1", marshal(t, pl(-1, bdSeqMetric(6))))
	if !res.StaleDeath {
		t.Error("NDEATH with an older bdSeq than the restored session's was not taken as stale")
	}
}

func TestHostState(t *testing.T) {
	at := time.UnixMilli(1764345600123)
	for _, online := range []bool{true, false} {
		b := StatePayload(online, at)
		st, err := ParseHostState(b)
		if err != nil || st.Online != online || st.Timestamp != at.UnixMilli() {
			t.Errorf("StatePayload(%v) = %s, parsed %+v %v", online, b, st, err)
		}
	}
	for _, bad := range []string{`{"online":true}`, `{"timestamp":1}`, `ONLINE`, `{"online":"yes","timestamp":1}`, ``} {
		if _, err := ParseHostState([]byte(bad)); err == nil {
			t.Errorf("ParseHostState(%q) took a STATE that is not Sparkplug 3.0's", bad)
		}
	}
	if got := StateTopic("scada-1"); got != "spBv1.0/STATE/scada-1" {
		t.Errorf("StateTopic = %q", got)
	}
}

// FuzzParseHostState: no payload panics, and what parses encodes back to
// the same state.
func FuzzParseHostState(f *testing.F) {
	f.Add([]byte(`{"online":true,"timestamp":1764345600123}`))
	f.Add([]byte(`{"online":false,"timestamp":-1}`))
	f.Add([]byte(`OFFLINE`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseHostState(b)
		if err != nil {
			return
		}
		again, err := ParseHostState(StatePayload(st.Online, time.UnixMilli(st.Timestamp)))
		if err != nil || again != st {
			t.Fatalf("%q parsed to %+v, which round-trips to %+v %v", b, st, again, err)
		}
	})
}

// memStore is a Store in memory, shared by the trackers of a test as a
// cluster's bucket is shared by its instances.
type memStore struct{ kept map[string][]byte }

func (s *memStore) Put(key string, b []byte) error {
	s.kept[key] = append([]byte(nil), b...)
	return nil
}
func (s *memStore) Delete(key string) error { delete(s.kept, key); return nil }

// TestStoreHandsANodeOver: what one tracker keeps in a Store lets another
// read the edge node's DATA by its aliases and datatypes (asking once for
// a rebirth to confirm them); the keeping tracker seeing its own state
// again changes nothing; and once the node's NDEATH removed it, the other
// tracker no longer reads its aliases.
func TestStoreHandsANodeOver(t *testing.T) {
	t0 := time.Unix(1764345600, 0)
	store := &memStore{kept: map[string][]byte{}}
	owner, next := NewTracker(), NewTracker()
	owner.UseStore(store)
	next.UseStore(store)
	handle := func(tr *Tracker, topic string, b []byte) Result {
		t.Helper()
		res, err := tr.Handle(topic, b, t0)
		if err != nil || res.SaveErr != nil {
			t.Fatal(err, res.SaveErr)
		}
		return res
	}
	handle(owner, "spBv1.0/hz-01/NBIRTH/gw-1", marshal(t, pl(0, bdSeqMetric(4), m("Tank1/Level", 1, dtFloat, float32(2)))))
	handle(owner, "spBv1.0/hz-01/DBIRTH/gw-1/gas", marshal(t, pl(1, m("Gas/GT-101", 2, dtInt16, uint32(0)))))
	if len(store.kept) != 1 {
		t.Fatalf("store keeps %d entries, want gw-1's", len(store.kept))
	}
	var key string
	var kept []byte
	for k, b := range store.kept {
		key, kept = k, b
	}
	// The owner sees its own write again: nothing changes, no rebirth.
	if err := owner.Apply(kept); err != nil {
		t.Fatal(err)
	}
	if res := handle(owner, "spBv1.0/hz-01/NDATA/gw-1", marshal(t, pl(2, m("", 1, dtUnknown, float32(2.5))))); res.NeedRebirth || len(res.Readings) != 1 {
		t.Errorf("owner after its own state came back: rebirth %v, %d readings", res.NeedRebirth, len(res.Readings))
	}

	if err := next.Apply(kept); err != nil {
		t.Fatal(err)
	}
	res := handle(next, "spBv1.0/hz-01/DDATA/gw-1/gas", marshal(t, pl(3, m("", 2, dtUnknown, uint32(0xFFFE)))))
	checkReadings(t, res.Readings, []want{{sensor: "Gas/GT-101", value: -2}})
	if !res.NeedRebirth {
		t.Error("the first DATA of a node taken over does not ask for a rebirth to confirm its aliases")
	}
	res = handle(next, "spBv1.0/hz-01/NDATA/gw-1", marshal(t, pl(4, m("", 1, dtUnknown, float32(3.5)))))
	checkReadings(t, res.Readings, []want{{sensor: "Tank1/Level", value: 3.5}})

	handle(owner, "spBv1.0/hz-01/NDEATH/gw-1", marshal(t, pl(-1, bdSeqMetric(4))))
	if len(store.kept) != 0 {
		t.Fatalf("NDEATH left %d entries", len(store.kept))
	}
	next.Forget(key)
	res = handle(next, "spBv1.0/hz-01/NDATA/gw-1", marshal(t, pl(5, m("", 1, dtUnknown, float32(3.5)))))
	checkReadings(t, res.Readings, []want{{reject: ReasonUnknownAlias}})

	for _, bad := range [][]byte{nil, []byte("{"), []byte(`{"group":"hz-01"}`)} {
		if next.Apply(bad) == nil {
			t.Errorf("Apply(%q) accepted", bad)
		}
	}
}

// FuzzApply: whatever another instance (or a damaged bucket) hands the
// tracker as an edge node's state, Apply returns an error or takes it,
// and a state it took reads back the same and is then a no-op.
func FuzzApply(f *testing.F) {
	tr := NewTracker()
	store := &memStore{kept: map[string][]byte{}}
	tr.UseStore(store)
	_, _ = tr.Handle("spBv1.0/g/NBIRTH/e", marshal(f, pl(0, bdSeqMetric(2), m("A", 1, dtFloat, float32(1)))), time.Unix(0, 0))
	_, _ = tr.Handle("spBv1.0/g/DBIRTH/e/d", marshal(f, pl(1, m("B", 2, dtInt16, uint32(0)))), time.Unix(0, 0))
	for _, b := range store.kept {
		f.Add(b)
	}
	f.Add([]byte(`{"group":"g","edge":"e","metrics":[{"name":"","alias":1}],"devices":{"":null}}`))
	f.Add([]byte(`{"group":"g","edge":"e","bd_seq":18446744073709551615,"metrics":null}`))
	f.Add([]byte(`{"group":"g","edge":"e","metrics":[{"name":"A","alias":2},{"name":"A","alias":1},{"name":"A"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr := NewTracker()
		if tr.Apply(b) != nil {
			return
		}
		var s savedNode
		_ = json.Unmarshal(b, &s)
		k := nodeKey{s.Group, s.Edge}
		again := tr.nodes[k].snapshot(k)
		if err := tr.Apply(again); err != nil {
			t.Fatalf("its own snapshot %q refused: %v", again, err)
		}
		if got := tr.nodes[k].snapshot(k); string(got) != string(again) {
			t.Fatalf("snapshot %q became %q", again, got)
		}
		_, _ = tr.Handle("spBv1.0/"+s.Group+"/NDATA/"+s.Edge, marshal(t, pl(3, m("", 1, dtUnknown, float32(2)))), time.Unix(0, 0))
	})
}
