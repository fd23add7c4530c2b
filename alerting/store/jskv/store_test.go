package jskv

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/internal/natsproc"
	"github.com/riskmon/riskmon/internal/testenv"
	"github.com/riskmon/riskmon/sensors"
)

// The store must be usable where the lifecycle wants its stores.
var (
	_ lifecycle.RecordStore = (*Store)(nil)
	_ lifecycle.KV          = Bucket{}
)

// jetStream starts one nats-server for the test and connects to it.
func jetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped under -short: runs nats-server")
	}
	testenv.NeedNATS(t)
	c, err := natsproc.Start(t.TempDir(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitJetStream(ctx); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(c.URLs()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func open(t *testing.T, js jetstream.JetStream, owns func(string) bool) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, js, Options{Owns: owns})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var t0 = time.Date(2026, 11, 28, 16, 0, 0, 0, time.UTC)

func event(id, site string, typ alerting.EventType, lvl sensors.Level, at time.Duration) alerting.Event {
	return alerting.Event{AlertID: id, Rule: "ch4_high", Site: site, Sensor: "GT-" + id, Type: typ, Level: lvl,
		At: t0.Add(at), StartsAt: t0}
}

func record(id, site string, version uint64) alerting.Record {
	return alerting.Record{ID: id, Rule: "ch4_high", Site: site, Sensor: "GT-" + id, State: alerting.StateActiveUnacked,
		Level: sensors.LevelOrange, Version: version, StartsAt: t0}
}

func ids(rs []alerting.Record) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.ID+"@"+r.Site)
	}
	slices.Sort(out)
	return out
}

// Versions and deletions: a record is never replaced by an older
// version, and a delete of an older version leaves a newer one.
func TestRecordVersions(t *testing.T) {
	js := jetStream(t)
	s := open(t, js, nil)
	steps := []struct {
		name    string
		do      func() error
		version uint64 // kept afterwards; 0: none kept
	}{
		{"first write", func() error { return s.PutRecord(record("a1", "mine.1", 2), nil) }, 2},
		{"older refused", func() error { return s.PutRecord(record("a1", "mine.1", 1), nil) }, 2},
		{"same refused", func() error { return s.PutRecord(record("a1", "mine.1", 2), nil) }, 2},
		{"newer kept", func() error { return s.PutRecord(record("a1", "mine.1", 5), nil) }, 5},
		{"delete of an older version", func() error { return s.DeleteRecord("a1", 4, nil) }, 5},
		{"delete", func() error { return s.DeleteRecord("a1", 5, nil) }, 0},
		{"delete again", func() error { return s.DeleteRecord("a1", 5, nil) }, 0},
		{"written again after delete", func() error { return s.PutRecord(record("a1", "mine.1", 7), nil) }, 7},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		recs, err := s.Records()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		var got uint64
		if len(recs) == 1 {
			got = recs[0].Version
		}
		if len(recs) > 1 || got != st.version {
			t.Fatalf("%s: kept %v, want version %d", st.name, recs, st.version)
		}
		// The store remembers the sites of kept alerts only.
		s.mu.Lock()
		_, known := s.sites["a1"]
		s.mu.Unlock()
		if known != (st.version != 0) {
			t.Fatalf("%s: site of a1 remembered %v with version %d kept", st.name, known, st.version)
		}
	}
	// Another instance, which never wrote the alert, finds its key.
	other := open(t, js, nil)
	if err := other.DeleteRecord("a1", 7, nil); err != nil {
		t.Fatal(err)
	}
	if recs, _ := s.Records(); len(recs) != 0 {
		t.Fatalf("deleted by another instance, still kept: %v", recs)
	}
}

// Records, hand-off marks and flapping state are listed by site: Records
// and Handoffs for the sites the instance holds, RecordsOf and
// HandoffsOf for the sites asked for.
func TestBySite(t *testing.T) {
	js := jetStream(t)
	owned := map[string]bool{"mine.1": true}
	s := open(t, js, func(site string) bool { return owned[site] })
	fired := event("a1", "mine.1", alerting.EventFired, sensors.LevelOrange, time.Second)
	other := event("b1", "矿井-2", alerting.EventFired, sensors.LevelRed, 2*time.Second)
	if err := s.PutRecord(record("a1", "mine.1", 1), &fired); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRecord(record("b1", "矿井-2", 1), &other); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRecord(record("c1", "mine.3", 1), nil); err != nil {
		t.Fatal(err)
	}
	flaps := s.Flapping()
	for _, k := range []string{"ch4_high\x00mine.1\x00GT-1", "ch4_high\x00矿井-2\x00GT-2"} {
		if err := flaps.Put(k, []byte(`{"raises":[]}`)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	all, _ := s.AllRecords(ctx)
	of, _ := s.RecordsOf(ctx, []string{"矿井-2", "mine.3"})
	mine, _ := s.Records()
	hofMine, _ := s.Handoffs()
	hofOf, _ := s.HandoffsOf(ctx, []string{"矿井-2"})
	cases := []struct {
		name      string
		got, want []string
	}{
		{"all", ids(all), []string{"a1@mine.1", "b1@矿井-2", "c1@mine.3"}},
		{"of two sites", ids(of), []string{"b1@矿井-2", "c1@mine.3"}},
		{"owned", ids(mine), []string{"a1@mine.1"}},
		{"hand-offs owned", evIDs(hofMine), []string{"a1"}},
		{"hand-offs of a site", evIDs(hofOf), []string{"b1"}},
		{"flapping owned", keys(t, flaps), []string{"ch4_high\x00mine.1\x00GT-1"}},
		{"flapping of a site", keys(t, s.FlappingOf([]string{"矿井-2"})), []string{"ch4_high\x00矿井-2\x00GT-2"}},
		{"flapping of no site", keys(t, s.FlappingOf(nil)), nil},
	}
	for _, c := range cases {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
	if err := s.HandedOff(fired.Key()); err != nil {
		t.Fatal(err)
	}
	if hof, _ := s.Handoffs(); len(hof) != 0 {
		t.Errorf("hand-off mark still kept after HandedOff: %v", hof)
	}
	if q := s.Quarantined(); len(q) != 0 {
		t.Errorf("quarantined %v", q)
	}
}

func evIDs(evs []alerting.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.AlertID)
	}
	return out
}

func keys(t *testing.T, b Bucket) []string {
	t.Helper()
	var out []string
	if err := b.Each(func(k, _ []byte) error { out = append(out, string(k)); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// A lifecycle on the store continues, on another instance, the alert
// another one raised and acknowledged: same id, same acknowledgement.
func TestLifecycleOnAnotherInstance(t *testing.T) {
	js := jetStream(t)
	nop := alerting.SinkFunc(func(alerting.Event) {})
	first := lifecycle.NewLifecycle(nop, lifecycle.LifecycleOptions{Store: open(t, js, nil)})
	first.Emit(event("a1", "mine.1", alerting.EventFired, sensors.LevelOrange, time.Second))
	if _, err := first.Ack("a1", "li", "on it"); err != nil {
		t.Fatal(err)
	}
	first.Flush()
	second := lifecycle.NewLifecycle(nop, lifecycle.LifecycleOptions{Store: open(t, js, nil)})
	if n, err := second.Restore(); n != 1 || err != nil {
		t.Fatalf("restored %d, %v; want 1", n, err)
	}
	r, ok := second.Get("a1")
	if !ok || r.State != alerting.StateActiveAcked || r.AckedBy != "li" {
		t.Fatalf("continued as %+v, %v; want a1 acknowledged by li", r, ok)
	}
	if n := second.Redeliver(); n != 0 {
		t.Errorf("%d changes handed on again; the first instance confirmed them all", n)
	}
}

// Shelves are the cluster's: Each lists them all, whatever is owned.
func TestShelves(t *testing.T) {
	js := jetStream(t)
	s := open(t, js, func(string) bool { return false })
	b := s.Shelves()
	for _, k := range []string{"sh-1", "sh.2"} {
		if err := b.Put(k, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete("sh-1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete("never"); err != nil {
		t.Fatal(err)
	}
	if got := keys(t, b); !slices.Equal(got, []string{"sh.2"}) {
		t.Fatalf("shelves %q, want [sh.2]", got)
	}
}

// WatchRecords hands every kept alert, then each write and deletion;
// WatchChanges tells of the shelves changed after it started.
func TestWatch(t *testing.T) {
	js := jetStream(t)
	s := open(t, js, nil)
	if err := s.PutRecord(record("a1", "mine.1", 1), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type change struct {
		id      string
		version uint64 // 0: deleted
	}
	got := make(chan change, 16)
	done := make(chan error, 2)
	go func() {
		done <- s.WatchRecords(ctx, func(id string, r *alerting.Record) {
			c := change{id: id}
			if r != nil {
				c.version = r.Version
			}
			got <- c
		})
	}()
	shelved := make(chan struct{}, 16)
	go func() { done <- s.Shelves().WatchChanges(ctx, func() { shelved <- struct{}{} }) }()
	next := func() change {
		select {
		case c := <-got:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("no change seen within 5 s")
			return change{}
		}
	}
	want := []struct {
		do func() error
		c  change
	}{
		{nil, change{"a1", 1}},
		{func() error { return s.PutRecord(record("a2", "mine.2", 3), nil) }, change{"a2", 3}},
		{func() error { return s.DeleteRecord("a1", 1, nil) }, change{"a1", 0}},
	}
	for _, w := range want {
		if w.do != nil {
			if err := w.do(); err != nil {
				t.Fatal(err)
			}
		}
		if c := next(); c != w.c {
			t.Fatalf("watched %+v, want %+v", c, w.c)
		}
	}
	if err := s.Shelves().Put("sh-1", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-shelved:
	case <-time.After(5 * time.Second):
		t.Fatal("shelf change not seen within 5 s")
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("watch ended with %v", err)
		}
	}
}
