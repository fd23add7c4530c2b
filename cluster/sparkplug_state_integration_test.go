package cluster

import (
	"context"
	"sync"
	"testing"
	"time"
)

// recorder is a Mirror that records what it is handed.
type recorder struct {
	mu      sync.Mutex
	applied []string
	forgot  []string
}

func (r *recorder) Apply(b []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied = append(r.applied, string(b))
	return nil
}

func (r *recorder) Forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgot = append(r.forgot, key)
}

func (r *recorder) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.applied), len(r.forgot)
}

// TestSparkplugStatesMirror: what one instance keeps in the bucket of
// BIRTH definitions reaches the others' mirrors, the present entries
// before Mirror returns; a removal reaches them as a Forget; and an
// instance's mirror never hands it back its own writes.
func TestSparkplugStatesMirror(t *testing.T) {
	nc := natsCluster(t, 1)
	base := Options{URLs: nc.URLs(), Partitions: 4, Replicas: 1, LeaseTTL: 2 * time.Second, AckWait: 3 * time.Second}
	oa, ob := base, base
	oa.Instance, ob.Instance = "a", "b"
	a, b := connect(t, oa), connect(t, ob)
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)

	if err := a.Sparkplug().Put("k1", []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var ra, rb recorder
	if err := a.Sparkplug().Mirror(ctx, &ra); err != nil {
		t.Fatal(err)
	}
	if err := b.Sparkplug().Mirror(ctx, &rb); err != nil {
		t.Fatal(err)
	}
	if n, _ := rb.counts(); n != 1 {
		t.Fatalf("b's mirror had %d entries when Mirror returned, want the one present", n)
	}
	if err := a.Sparkplug().Put("k2", []byte(`{"n":2}`)); err != nil {
		t.Fatal(err)
	}
	if err := a.Sparkplug().Delete("k1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "b's mirror sees the new entry and the removal", func() bool {
		n, f := rb.counts()
		return n == 2 && f == 1
	})
	if err := b.Sparkplug().Put("k2", []byte(`{"n":3}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a's mirror sees b's write", func() bool { n, _ := ra.counts(); return n == 1 })
	time.Sleep(300 * time.Millisecond)
	ra.mu.Lock()
	if len(ra.applied) != 1 || ra.applied[0] != `{"n":3}` || len(ra.forgot) != 0 {
		t.Errorf("a's mirror got %q and forgot %q; want b's write alone, never its own", ra.applied, ra.forgot)
	}
	ra.mu.Unlock()
	rb.mu.Lock()
	if rb.applied[0] != `{"n":1}` || rb.applied[1] != `{"n":2}` || rb.forgot[0] != "k1" || len(rb.applied) != 2 {
		t.Errorf("b's mirror got %q and forgot %q", rb.applied, rb.forgot)
	}
	rb.mu.Unlock()
}
