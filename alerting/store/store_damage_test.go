package store

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/lifecycle"

	"github.com/riskmon/riskmon/sensors"
	bolt "go.etcd.io/bbolt"
)

// damage overwrites the first byte of marker wherever it occurs in the
// file at path (bbolt copies pages on write, so older copies of an entry
// may linger in free pages): the entry holding it no longer decodes, as
// after a bad sector or a torn write.
func damage(t *testing.T, path, marker string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(marker))
		if i < 0 {
			break
		}
		b[off+i] = 0x00 // a control character: invalid inside a JSON string
		off += i + 1
		n++
	}
	if n == 0 {
		t.Fatalf("%q not in %s", marker, path)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// One damaged record of each kind (an open alert, a shelf, a waiting
// notification) is set aside, reported and kept for inspection; every
// other entry loads, and the store keeps working.
func TestStoreQuarantinesDamagedEntries(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	path := filepath.Join(t.TempDir(), "alerts.db")
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	l := lifecycle.NewLifecycle(alerting.SinkFunc(func(alerting.Event) {}), lifecycle.LifecycleOptions{Store: st})
	for _, id := range []string{"good-alert-1", "damaged-alert", "good-alert-2"} {
		l.Emit(alerting.Event{AlertID: id, Rule: "ch4_high", Site: "mine-1", Sensor: "CH4-" + id, Type: alerting.EventFired,
			Level: sensors.LevelOrange, At: t0, StartsAt: t0, Message: "marker-" + id})
	}
	sh, err := lifecycle.NewShelves(alerting.SinkFunc(func(alerting.Event) {}), lifecycle.ShelvesOptions{Store: st.Shelves(), Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	for _, by := range []string{"zhang-damaged-shelf", "li-good-shelf"} {
		if _, err := sh.Shelve(lifecycle.ShelfRequest{Mode: lifecycle.ModeShelved, Match: lifecycle.Matcher{Site: "mine-1", Sensor: "CH4-1"}, By: by, Reason: "calibration " + by, Duration: time.Hour, Admin: true}); err != nil {
			t.Fatal(err)
		}
	}
	// The dispatcher's outbox (dispatch.Outbox), as it fills it.
	for _, id := range []string{"outbox-good", "outbox-damaged"} {
		ev := sampleEvent()
		ev.AlertID, ev.Message = id, "marker-"+id
		if _, err := st.Enqueue([]string{"pager"}, nil, ev.Key(), ev); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	damage(t, path, "marker-damaged-alert")
	damage(t, path, "zhang-damaged-shelf")
	damage(t, path, "marker-outbox-damaged")

	st, err = Open(path)
	if err != nil {
		t.Fatalf("a damaged entry kept the store from opening: %v", err)
	}
	defer st.Close()
	l = lifecycle.NewLifecycle(alerting.SinkFunc(func(alerting.Event) {}), lifecycle.LifecycleOptions{Store: st})
	n, err := l.Restore()
	if err != nil || n != 2 {
		t.Fatalf("restored %d alerts, %v; want the 2 sound ones", n, err)
	}
	if _, ok := l.Get("good-alert-2"); !ok {
		t.Fatal("a sound alert is missing")
	}
	sh, err = lifecycle.NewShelves(alerting.SinkFunc(func(alerting.Event) {}), lifecycle.ShelvesOptions{Store: st.Shelves(), Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatalf("shelves: %v", err)
	}
	if got := sh.Shelves(); len(got) != 1 || got[0].By != "li-good-shelf" {
		t.Fatalf("shelves %+v, want li's alone", got)
	}
	var got []string
	if err := st.Pending("pager", func(_ uint64, _ string, ev alerting.Event, _ bool) { got = append(got, ev.AlertID) }); err != nil {
		t.Fatalf("outbox: %v", err)
	}
	if !slices.Equal(got, []string{"outbox-good"}) {
		t.Fatalf("outbox holds %v after the restart, want the sound notification", got)
	}
	q := st.Quarantined()
	var where []string
	for _, d := range q {
		where = append(where, d.Bucket)
		if d.Err == "" || d.Key == "" {
			t.Errorf("report %+v lacks the key or the reason", d)
		}
	}
	slices.Sort(where)
	if want := []string{"outbox/pager", "records", "shelves"}; !slices.Equal(where, want) {
		t.Fatalf("quarantined %+v, want one entry of each of %v", q, want)
	}
	// Kept as found, and out of the way of the next start.
	var kept int
	if err := st.db.View(func(tx *bolt.Tx) error {
		kept = tx.Bucket(bucketQuarantine).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if kept != 3 {
		t.Fatalf("quarantine bucket holds %d entries, want 3", kept)
	}
	// The store still takes new alerts.
	l.Emit(alerting.Event{AlertID: "after", Rule: "ch4_high", Site: "mine-1", Sensor: "CH4-9", Type: alerting.EventFired, Level: sensors.LevelRed, At: t0, StartsAt: t0})
	st.Close()
	st, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	l = lifecycle.NewLifecycle(alerting.SinkFunc(func(alerting.Event) {}), lifecycle.LifecycleOptions{Store: st})
	if n, err := l.Restore(); err != nil || n != 3 {
		t.Fatalf("third start restored %d, %v; want 3", n, err)
	}
	if q := st.Quarantined(); len(q) != 0 {
		t.Fatalf("third start quarantined %+v again", q)
	}
}

// A file whose structure is damaged (both meta pages, or a page of the
// tree) is set aside whole and a fresh store is opened: riskmon starts
// and says so, rather than not starting at all.
func TestStoreSetsAsideDamagedFile(t *testing.T) {
	tests := []struct {
		name   string
		damage func(b []byte, pageSize int)
	}{
		{"both meta pages", func(b []byte, ps int) {
			for _, off := range []int{0, ps} {
				for i := off + 16; i < off+64; i++ {
					b[i] ^= 0x5a
				}
			}
		}},
		{"every page after the meta pages", func(b []byte, ps int) {
			for off := 2 * ps; off+16 <= len(b); off += ps {
				for i := off; i < off+16; i++ {
					b[i] = 0xee
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "alerts.db")
			st, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			l := lifecycle.NewLifecycle(alerting.SinkFunc(func(alerting.Event) {}), lifecycle.LifecycleOptions{Store: st})
			l.Emit(alerting.Event{AlertID: "a", Rule: "ch4_high", Site: "mine-1", Sensor: "CH4-1", Type: alerting.EventFired, Level: sensors.LevelOrange})
			ps := st.db.Info().PageSize
			st.Close()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tt.damage(b, ps)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			st, err = Open(path)
			if err != nil {
				t.Fatalf("a damaged file kept the store from opening: %v", err)
			}
			defer st.Close()
			q := st.Quarantined()
			if len(q) != 1 || q[0].Bucket != "file" {
				t.Fatalf("quarantined %+v, want the file", q)
			}
			if got, err := os.ReadFile(q[0].Key); err != nil || !bytes.Equal(got, b) {
				t.Fatalf("damaged file not kept as found at %s: %v", q[0].Key, err)
			}
			l = lifecycle.NewLifecycle(alerting.SinkFunc(func(alerting.Event) {}), lifecycle.LifecycleOptions{Store: st})
			if _, err := l.Restore(); err != nil {
				t.Fatal(err)
			}
			l.Emit(alerting.Event{AlertID: "b", Rule: "ch4_high", Site: "mine-1", Sensor: "CH4-1", Type: alerting.EventFired, Level: sensors.LevelRed})
			if _, ok := l.Get("b"); !ok {
				t.Fatal("the fresh store does not keep alerts")
			}
		})
	}
}
