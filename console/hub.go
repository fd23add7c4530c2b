package console

import (
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/sensors"
)

// HubOptions size a Hub's memory. The zero value is usable.
type HubOptions struct {
	// Ring is how many recent alert events are kept, so a reconnecting
	// browser can catch up from its Last-Event-ID and GET /api/v1/events
	// (Events) can list them. Default 4096: at the worst incident rates we
	// simulate that is minutes of events, longer than a browser normally
	// stays disconnected.
	Ring int
	// Resolved is how many resolved alerts stay queryable after their
	// end. Default 1000; older ones are in InfluxDB and the notification
	// log, not in the console.
	Resolved int
	// AlertEvents caps the event history kept per alert; the newest are
	// kept. Default 100, enough for a flapping alert's morning.
	AlertEvents int
	// SubscriberBuffer is how many events a stream subscriber may fall
	// behind before it is dropped and told to resync. Default 256.
	SubscriberBuffer int
	// Logger receives errors about events that cannot be shown; nil
	// discards.
	Logger *slog.Logger
	// Now is the clock fired alarms are counted by on arrival, for the
	// alarm rate per 10 minutes; default time.Now.
	Now func() time.Time
	// Registry, when set, is where the service publishes the registry in
	// force; the hub serves what it holds, taking a new one up at its
	// next read. Nil: the registry NewHub was given.
	Registry *sensors.Provider
	// Alerts is the read model of alerts the hub serves: the service's
	// alert lifecycle, which the events reach before the hub. Nil: the
	// hub keeps a lifecycle of its own and feeds it every event, closing
	// an alert when it clears (nobody acknowledges there), with Resolved
	// and AlertEvents as its bounds.
	Alerts AlertReader
}

// AlertReader is the one read model of alerts: the alert lifecycle's
// records, open and recently closed. The hub adds only what it sees
// itself (live values and peaks, the event ring) and fans it out.
// *lifecycle.Lifecycle satisfies it.
type AlertReader interface {
	Recent() []alerting.Record
	Find(id string) (alerting.Record, bool)
}

func (o *HubOptions) defaults() {
	if o.Ring <= 0 {
		o.Ring = 4096
	}
	if o.Resolved <= 0 {
		o.Resolved = 1000
	}
	if o.AlertEvents <= 0 {
		o.AlertEvents = 100
	}
	if o.SubscriberBuffer <= 0 {
		o.SubscriberBuffer = 256
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Hub is the in-memory state the console serves: open and recently
// resolved alerts with their events, a ring of recent events for stream
// resume, the latest reading of every registered sensor, and the stream
// subscribers. Its methods are safe for concurrent use.
type Hub struct {
	// src holds the registry in force; regView is the one the hub
	// serves, replaced whole (under rmu, with latest) once src holds
	// another, so readers take one consistent snapshot.
	src     *sensors.Provider
	regView atomic.Pointer[hubView]
	// guidance is the rule files' response texts per rule in force
	// (SetGuidance); nil holds none.
	guidance atomic.Pointer[map[string]sensors.Guidance]
	opts     HubOptions
	log      *slog.Logger
	// boot prefixes every event id, so a browser that reconnects to a
	// restarted process, whose ids start again at 1, is told to resync
	// instead of being replayed the wrong events.
	boot string
	// rmu guards the readings alone: the ingest path takes it for every
	// message and must not wait behind alert bookkeeping or a stream
	// scanning the ring.
	rmu    sync.Mutex
	latest []latestReading // one per registered sensor, same order as view's reg.Sensors()
	rgen   uint64          // bumped per stored reading; latestReading.gen says when

	// alerts is the read model of alerts; own is the lifecycle the hub
	// feeds itself when it was given none (HubOptions.Alerts), else nil.
	alerts AlertReader
	own    *lifecycle.Lifecycle

	mu      sync.Mutex
	seq     uint64      // id of the newest event in ring
	ring    []ringEntry // ring[seq%len] holds event seq
	subs    map[*subscriber]struct{}
	dropped uint64 // subscribers dropped for falling behind
	// peaks follow each open alert's worst reading (peak.go); peakDone
	// lists the ended alerts whose peak is still kept, oldest first, at
	// most opts.Resolved.
	peaks    map[string]*peakTrack
	peakDone []string

	// shelfGen is bumped when a shelf is set or ended through the
	// console, so open streams tell their browsers to reload the shelves.
	shelfGen atomic.Uint64

	// done is closed by Close to end every stream.
	done      chan struct{}
	closeOnce sync.Once
}

type sensorKey struct{ site, sensor string }

// latestReading is kept by value in a preallocated slice so that storing a
// reading allocates nothing.
type latestReading struct {
	value    float64
	at       time.Time // device time
	received time.Time // wall clock, zero when ingest did not stamp it
	quality  sensors.Quality
	gen      uint64 // 0 until the first reading
	// peaks are the open alerts of the sensor whose peak readings feed
	// (peak.go); empty, and costing nothing, while none is open.
	peaks []*peakTrack
}

// ringEntry is one event, with its encoding as the stream sends it, made
// once for every subscriber.
type ringEntry struct {
	seq  uint64
	data []byte
	ev   alerting.Event
}

// subscriber is one open stream. The hub sends without blocking; when ch is
// full it removes the subscriber and closes gone, and the stream handler
// resubscribes and tells the browser to resync.
type subscriber struct {
	ch   chan ringEntry
	gone chan struct{}
}

// hubView is one registry with the lookups the hub needs; never changed
// once built.
type hubView struct {
	reg *sensors.Registry
	// bySite lists each site's sensors in registry order.
	bySite map[string][]*sensors.Sensor
	index  map[sensorKey]int // position in reg.Sensors() and in Hub.latest
}

func newHubView(reg *sensors.Registry) *hubView {
	v := &hubView{reg: reg, bySite: make(map[string][]*sensors.Sensor), index: make(map[sensorKey]int, reg.Len())}
	for i, s := range reg.Sensors() {
		v.index[sensorKey{s.Site, s.ID}] = i
		v.bySite[s.Site] = append(v.bySite[s.Site], s)
	}
	return v
}

// NewHub builds an empty hub for the sensors of reg.
func NewHub(reg *sensors.Registry, opts HubOptions) *Hub {
	opts.defaults()
	src := opts.Registry
	if src == nil {
		src = sensors.NewProvider(reg)
	}
	reg = src.Registry()
	h := &Hub{
		src:    src,
		opts:   opts,
		log:    opts.Logger,
		boot:   strconv.FormatInt(time.Now().UnixMilli(), 36),
		latest: make([]latestReading, reg.Len()),
		ring:   make([]ringEntry, opts.Ring),
		alerts: opts.Alerts,
		subs:   make(map[*subscriber]struct{}),
		peaks:  make(map[string]*peakTrack),
		done:   make(chan struct{}),
	}
	if h.alerts == nil {
		h.own = lifecycle.NewLifecycle(nil, lifecycle.LifecycleOptions{MaxEvents: opts.AlertEvents,
			KeepClosed: opts.Resolved, CloseCleared: true})
		h.alerts = h.own
	}
	h.regView.Store(newHubView(reg))
	return h
}

// SetRegistry publishes reg in the hub's provider (the service's, when it
// passed one) and serves it from now on.
func (h *Hub) SetRegistry(reg *sensors.Registry) {
	h.src.Set(reg)
	h.registry()
}

// registry is the registry the hub serves now: the provider's, taken up
// here when it changed.
func (h *Hub) registry() *hubView {
	v := h.regView.Load()
	if h.src.Registry() == v.reg {
		return v
	}
	h.rmu.Lock()
	defer h.rmu.Unlock()
	return h.followLocked()
}

// followLocked makes the hub serve the provider's registry when it holds
// another than the one served — the sites and sensors a reload added
// appear, removed ones go — keeping the latest reading of every sensor in
// both. Called with rmu held.
func (h *Hub) followLocked() *hubView {
	old := h.regView.Load()
	reg := h.src.Registry()
	if reg == old.reg {
		return old
	}
	nv := newHubView(reg)
	latest := make([]latestReading, reg.Len())
	for k, i := range nv.index {
		if j, ok := old.index[k]; ok {
			latest[i] = h.latest[j]
		}
	}
	h.latest = latest
	h.regView.Store(nv)
	return nv
}

// SetGuidance makes the rule files' response procedures and consequences
// per rule (rulefile.Set.Guidance) those the board, the sensor page and
// the stream carry from now on; they win over a site's guidance in the
// registry and the shipped texts. Nil removes them.
func (h *Hub) SetGuidance(rules map[string]sensors.Guidance) {
	h.guidance.Store(&rules)
}

// Guidance is what SetGuidance set, or nil.
func (h *Hub) Guidance() map[string]sensors.Guidance {
	if p := h.guidance.Load(); p != nil {
		return *p
	}
	return nil
}

// Close ends every open stream, so that http.Server.Shutdown, which waits
// for handlers but does not cancel them, need not wait out its deadline:
// pass it to the server's RegisterOnShutdown. Browsers reconnect to the
// next process and resync. The hub keeps working otherwise.
func (h *Hub) Close() {
	h.closeOnce.Do(func() { close(h.done) })
}

// Readings records the latest value of each reading's sensor. It is meant
// for the ingest hot path: one lock and a store per reading (a map lookup
// only for a reading without a registry handle), no allocation. Readings of unregistered sensors are ignored, and a
// reading older than the one held (a replayed or store-and-forward value)
// does not replace it.
func (h *Hub) Readings(rs []sensors.Reading) {
	h.rmu.Lock()
	view := h.followLocked() // stable while rmu is held
	order := view.reg.Sensors()
	for i := range rs {
		r := &rs[i]
		// The registry handle ingest attached spares the map lookup
		// when it is an entry of the registry the hub serves.
		j := -1
		if ref := r.Ref; ref != nil && ref.Index() < len(order) && order[ref.Index()] == ref {
			j = ref.Index()
		} else if k, ok := view.index[sensorKey{r.Site, r.Sensor}]; ok {
			j = k
		} else {
			continue
		}
		l := &h.latest[j]
		if l.gen != 0 && r.Time.Before(l.at) {
			continue
		}
		h.rgen++
		l.value, l.at, l.received, l.quality, l.gen = r.Value, r.Time, r.Received, r.Quality, h.rgen
		if len(l.peaks) > 0 {
			observePeaks(l.peaks, r.Value)
		}
	}
	h.rmu.Unlock()
}

// Emit implements alerting.Sink; it is Event under the name the engine
// calls.
func (h *Hub) Emit(ev alerting.Event) { h.Event(ev) }

// Event records an alert event and passes it to the stream subscribers. It
// never blocks: a subscriber whose buffer is full is dropped and will be
// told to resync. The engine calls it with a shard lock held, so it does
// no I/O.
func (h *Hub) Event(ev alerting.Event) {
	data, err := h.streamEvent(ev)
	if err != nil {
		// Only an invalid event type fails to encode; such an event is a
		// bug upstream, and showing half of it would mislead operators.
		h.log.Error("console: drop unencodable alert event", "alert_id", ev.AlertID, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.own != nil {
		h.own.Emit(ev)
	}
	h.trackPeak(ev)
	h.seq++
	e := ringEntry{seq: h.seq, data: data, ev: ev}
	h.ring[h.seq%uint64(len(h.ring))] = e
	for s := range h.subs {
		select {
		case s.ch <- e:
		default:
			// The stream handler logs the drop from its own goroutine;
			// logging here could block on the log writer.
			delete(h.subs, s)
			close(s.gone)
			h.dropped++
		}
	}
}

// Restore shows the open alerts a restarted service kept
// (Lifecycle.Open: firing, acknowledged, resolved but unacknowledged,
// latched): a hub without the service's lifecycle takes them into its
// own, and the peaks of those still active are followed again from their
// events. Nothing goes out on the stream: browsers connecting later load
// the board whole. Alerts the hub already follows are left alone.
func (h *Hub) Restore(records []alerting.Record) {
	if h.own != nil {
		h.own.Load(records)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range records {
		if _, ok := h.peaks[r.ID]; ok {
			continue
		}
		if last, ok := lastCondition(r.Events); !ok || last.Type == alerting.EventResolved {
			continue
		}
		for _, ev := range r.Events {
			h.trackPeak(ev)
		}
	}
}

// subscribe registers a stream subscriber and returns the events after
// lastID still in the ring. resync is true when the caller cannot be
// caught up from the ring (no id, an id from another process, or one that
// has fallen out of the ring); cur is then the id to resync from. Both are
// decided under the lock that Event takes, so no event falls between the
// replay and the subscription.
func (h *Hub) subscribe(lastID string) (s *subscriber, replay []ringEntry, resync bool, cur string) {
	s = &subscriber{ch: make(chan ringEntry, h.opts.SubscriberBuffer), gone: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[s] = struct{}{}
	cur = h.eventID(h.seq)
	last, ok := h.parseID(lastID)
	oldest := uint64(1)
	if n := uint64(len(h.ring)); h.seq > n {
		oldest = h.seq - n + 1
	}
	if !ok || last > h.seq || last+1 < oldest {
		return s, nil, true, cur
	}
	for q := last + 1; q <= h.seq; q++ {
		replay = append(replay, h.ring[q%uint64(len(h.ring))])
	}
	return s, replay, false, cur
}

// Events returns the events still in the ring, oldest first, at or after
// since (their device time) unless since is zero. The ring the streams
// resume from is the service's one history of recent events: GET
// /api/v1/events serves it (the simulator's scoring reads it).
func (h *Hub) Events(since time.Time) []alerting.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := uint64(len(h.ring))
	oldest := uint64(1)
	if h.seq > n {
		oldest = h.seq - n + 1
	}
	out := make([]alerting.Event, 0, h.seq+1-oldest)
	for q := oldest; q <= h.seq; q++ {
		ev := h.ring[q%n].ev
		if since.IsZero() || !ev.At.Before(since) {
			out = append(out, ev)
		}
	}
	return out
}

func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.gone)
	}
}

// eventID is the stream id of event seq: the hub's boot stamp and the
// sequence number.
func (h *Hub) eventID(seq uint64) string {
	return h.boot + "-" + strconv.FormatUint(seq, 10)
}

func (h *Hub) parseID(id string) (uint64, bool) {
	boot, n, ok := strings.Cut(id, "-")
	if !ok || boot != h.boot {
		return 0, false
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	return seq, err == nil
}

// readingUpdate is one sensor's latest value as the stream sends it.
type readingUpdate struct {
	Site     string     `json:"site"`
	Sensor   string     `json:"sensor"`
	Value    float64    `json:"value"`
	At       time.Time  `json:"at"`
	Received *time.Time `json:"received,omitempty"`
	Quality  string     `json:"quality"`
}

// readingsSince appends to dst the sensors whose reading changed after gen,
// limited to site when site is not empty, and returns the generation to
// ask from next time. A stream calls it once per tick, so one burst of
// messages becomes one update per sensor.
func (h *Hub) readingsSince(gen uint64, site string, dst []readingUpdate) ([]readingUpdate, uint64) {
	h.rmu.Lock()
	defer h.rmu.Unlock()
	all := h.followLocked().reg.Sensors()
	if h.rgen == gen {
		return dst, gen
	}
	for i := range h.latest {
		l := &h.latest[i]
		if l.gen <= gen || (site != "" && all[i].Site != site) {
			continue
		}
		dst = append(dst, toUpdate(all[i], l))
	}
	return dst, h.rgen
}

func toUpdate(s *sensors.Sensor, l *latestReading) readingUpdate {
	u := readingUpdate{Site: s.Site, Sensor: s.ID, Value: l.value, At: l.at, Quality: l.quality.String()}
	if !l.received.IsZero() {
		rcv := l.received
		u.Received = &rcv
	}
	return u
}

// latestOf returns a sensor's latest reading, if any.
func (h *Hub) latestOf(site, sensor string) (latestReading, bool) {
	h.rmu.Lock()
	defer h.rmu.Unlock()
	j, ok := h.followLocked().index[sensorKey{site, sensor}]
	if !ok || h.latest[j].gen == 0 {
		return latestReading{}, false
	}
	return h.latest[j], true
}

// Stats are counters for tests and metrics.
type Stats struct {
	Open, Resolved int    // alerts held
	Events         uint64 // events received
	Subscribers    int
	Dropped        uint64 // subscribers dropped for falling behind
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	var open, resolved int
	for _, r := range h.alerts.Recent() {
		switch last, ok := lastCondition(r.Events); {
		case !ok:
		case last.Type == alerting.EventResolved:
			resolved++
		default:
			open++
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{Open: open, Resolved: resolved, Events: h.seq, Subscribers: len(h.subs), Dropped: h.dropped}
}
