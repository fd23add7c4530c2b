package cluster

import (
	"slices"
	"testing"
	"time"
)

// TestLeaseTrustEndsFirst: an instance stops trusting a lease before the
// bucket can let it go: the trust runs from the renewal's sending, the
// key's TTL from its storing, which is later, and the trust is shorter.
func TestLeaseTrustEndsFirst(t *testing.T) {
	for _, ttl := range []time.Duration{time.Second, 3 * time.Second, 20 * time.Second} {
		n := &Node{opts: Options{LeaseTTL: ttl}, epoch: time.Now()}
		if got := time.Duration(n.trust()); got >= ttl || got < ttl*8/10 {
			t.Errorf("ttl %v: trust %v", ttl, got)
		}
		l := &lease{}
		sent := n.now()
		l.deadline.Store(sent + n.trust())
		if !l.current(sent) || l.current(sent+int64(ttl)) {
			t.Errorf("ttl %v: trusted at the renewal %v, at the TTL %v", ttl, l.current(sent), l.current(sent+int64(ttl)))
		}
	}
}

// TestPreference: each instance orders every partition once, the same
// way each time, and two instances differ, so they seldom race for the
// same free partition.
func TestPreference(t *testing.T) {
	a := &Node{opts: Options{Instance: "rm-a", Partitions: 16}}
	b := &Node{opts: Options{Instance: "rm-b", Partitions: 16}}
	pa, pb := a.preference(), b.preference()
	sorted := slices.Clone(pa)
	slices.Sort(sorted)
	for i, p := range sorted {
		if p != i {
			t.Fatalf("preference %v is not a permutation of 0..15", pa)
		}
	}
	if !slices.Equal(pa, a.preference()) {
		t.Error("preference changes between calls")
	}
	if slices.Equal(pa, pb) {
		t.Errorf("two instances share the preference %v", pa)
	}
}

// TestPartitionOfSpreads: sites spread over the partitions, and the
// count bounds the result.
func TestPartitionOfSpreads(t *testing.T) {
	seen := map[int]int{}
	for i := range 400 {
		p := PartitionOf("site-"+string(rune('a'+i%26))+string(rune('a'+i/26)), 8)
		if p < 0 || p >= 8 {
			t.Fatalf("partition %d out of range", p)
		}
		seen[p]++
	}
	for p := range 8 {
		if seen[p] < 20 {
			t.Errorf("partition %d got %d of 400 sites", p, seen[p])
		}
	}
	if PartitionOf("x", 0) != 0 {
		t.Error("no partitions: not 0")
	}
}
