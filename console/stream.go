package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// Stream event names. An "alert" carries one alerting.Event and an id; a
// "readings" carries the sensors whose latest value changed and no id, so
// it does not move the browser's Last-Event-ID; a "resync" tells the
// browser to reload the alerts and sites over the API, because the stream
// cannot replay what it missed.
const (
	eventAlert    = "alert"
	eventReadings = "readings"
	eventResync   = "resync"
	// eventShelves says a shelf was set or ended through the console; the
	// browser reloads GET /api/v1/shelves. It carries no id.
	eventShelves = "shelves"
)

// Resync reasons.
const (
	resyncNew      = "new"      // no Last-Event-ID: a first connection
	resyncTooOld   = "too_old"  // Last-Event-ID fell out of the ring, or is from another process
	resyncOverflow = "overflow" // the browser read too slowly and events were dropped
)

// replayBatch is how many buffered alert events are written before a
// flush, so a burst costs one write rather than one per event.
const replayBatch = 64

// stream serves GET /api/v1/stream: Server-Sent Events of alert events
// and latest-reading updates. A browser resumes with the Last-Event-ID
// header (EventSource sends it by itself) or ?last_event_id=. Query
// ?site=ID limits reading updates to one site; ?readings=none omits them.
func (s *server) stream(w http.ResponseWriter, r *http.Request) {
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("last_event_id")
	}
	site := r.URL.Query().Get("site")
	if site != "" {
		if _, ok := s.hub.registry().reg.Site(site); !ok {
			writeError(w, http.StatusNotFound, "no such site: "+site)
			return
		}
	}
	st := &sseStream{s: s, site: site, withReadings: r.URL.Query().Get("readings") != "none", remote: r.RemoteAddr}
	sub, replay, resync, cur := s.hub.subscribe(lastID)
	st.sub = sub
	// An overflow replaces the subscription; unsubscribe the last one.
	defer func() { s.hub.unsubscribe(st.sub) }()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx would otherwise hold events back
	w.WriteHeader(http.StatusOK)

	st.sw = &sseWriter{rc: http.NewResponseController(w), bw: bufio.NewWriter(w), timeout: s.opts.WriteTimeout}
	st.sw.arm()
	// A reconnect after 2 s keeps the gap short without hammering a
	// restarting server; EventSource waits 3 s by default.
	st.sw.raw("retry: 2000\n\n")
	if resync {
		reason := resyncTooOld
		if lastID == "" {
			reason = resyncNew
		}
		st.sw.resync(cur, reason)
	}
	for _, e := range replay {
		st.sw.alert(s.hub, e)
	}
	st.shelfGen = s.hub.shelfGen.Load()
	st.sendReadings()
	if st.sw.flush() != nil {
		return
	}
	st.serve(r.Context())
}

// sseStream is one browser's event stream once its replay is sent.
type sseStream struct {
	s            *server
	sw           *sseWriter
	sub          *subscriber
	site         string // reading updates of this site only, or all
	withReadings bool
	remote       string
	// gen is the readings generation last sent; buf is reused for each
	// update. shelfGen is the shelves generation the browser has.
	gen      uint64
	buf      []readingUpdate
	shelfGen uint64
}

// serve writes the stream's events as they come, and a heartbeat, until
// the browser goes, the hub stops or a write fails.
func (st *sseStream) serve(ctx context.Context) {
	s := st.s
	readings := time.NewTicker(s.opts.ReadingsEvery)
	defer readings.Stop()
	heartbeat := time.NewTicker(s.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.hub.done:
			return
		case e := <-st.sub.ch:
			st.sw.arm()
			st.alerts(e)
		case <-st.sub.gone:
			st.sw.arm()
			st.resubscribe()
		case <-readings.C:
			st.sw.arm()
			st.sendReadings()
			if g := s.hub.shelfGen.Load(); g != st.shelfGen {
				st.shelfGen = g
				st.sw.event(eventShelves, "", struct{}{})
			}
		case <-heartbeat.C:
			st.sw.arm()
			st.sw.raw(": ping\n\n")
		}
		if err := st.sw.flush(); err != nil {
			s.log.Debug("console: stream closed", "remote", st.remote, "err", err)
			return
		}
	}
}

// alerts writes e and up to replayBatch-1 more alert events already
// waiting, for one flush.
func (st *sseStream) alerts(e ringEntry) {
	st.sw.alert(st.s.hub, e)
	for n := 1; n < replayBatch; n++ {
		select {
		case e := <-st.sub.ch:
			st.sw.alert(st.s.hub, e)
			continue
		default:
		}
		break
	}
}

// resubscribe starts over from now after the browser fell behind and
// its events were dropped; the browser reloads the state over the API,
// and whatever it applies twice is idempotent.
func (st *sseStream) resubscribe() {
	st.s.log.Warn("console: stream fell behind, told to resync", "remote", st.remote, "buffer", cap(st.sub.ch))
	sub, _, _, cur := st.s.hub.subscribe("")
	st.sub = sub
	st.sw.resync(cur, resyncOverflow)
}

// sendReadings writes the latest readings that changed since the last
// update, if the browser wants them.
func (st *sseStream) sendReadings() {
	if !st.withReadings {
		return
	}
	st.buf, st.gen = st.s.hub.readingsSince(st.gen, st.site, st.buf[:0])
	if len(st.buf) > 0 {
		st.sw.event(eventReadings, "", st.buf)
	}
}

// sseWriter writes Server-Sent Events into a buffer and remembers the
// first error, so the loop checks once per flush.
type sseWriter struct {
	rc      *http.ResponseController
	bw      *bufio.Writer
	timeout time.Duration
	err     error
}

func (w *sseWriter) raw(s string) {
	if w.err == nil {
		_, w.err = w.bw.WriteString(s)
	}
}

func (w *sseWriter) alert(h *Hub, e ringEntry) {
	w.frame(eventAlert, h.eventID(e.seq), e.data)
}

func (w *sseWriter) resync(id, reason string) {
	w.event(eventResync, id, struct {
		Reason string `json:"reason"`
	}{reason})
}

func (w *sseWriter) event(name, id string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		w.err = err
		return
	}
	w.frame(name, id, data)
}

// frame writes one event. data is JSON, which holds no raw newline, so it
// fits one data: line.
func (w *sseWriter) frame(name, id string, data []byte) {
	w.raw("event: " + name + "\n")
	if id != "" {
		w.raw("id: " + id + "\n")
	}
	w.raw("data: ")
	if w.err == nil {
		_, w.err = w.bw.Write(data)
	}
	w.raw("\n\n")
}

// arm gives the writes that follow the write timeout. It is called before
// writing rather than at the flush, because a full buffer writes through
// on its own.
func (w *sseWriter) arm() {
	if err := w.rc.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) && w.err == nil {
		w.err = err
	}
}

// flush sends what is buffered.
func (w *sseWriter) flush() error {
	if w.err != nil {
		return w.err
	}
	if w.err = w.bw.Flush(); w.err != nil {
		return w.err
	}
	w.err = w.rc.Flush()
	return w.err
}
