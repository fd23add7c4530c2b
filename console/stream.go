package console

import (
	"bufio"
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
	withReadings := r.URL.Query().Get("readings") != "none"

	sub, replay, resync, cur := s.hub.subscribe(lastID)
	defer func() { s.hub.unsubscribe(sub) }()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx would otherwise hold events back
	w.WriteHeader(http.StatusOK)

	sw := &sseWriter{rc: http.NewResponseController(w), bw: bufio.NewWriter(w), timeout: s.opts.WriteTimeout}
	sw.arm()
	// A reconnect after 2 s keeps the gap short without hammering a
	// restarting server; EventSource waits 3 s by default.
	sw.raw("retry: 2000\n\n")
	if resync {
		reason := resyncTooOld
		if lastID == "" {
			reason = resyncNew
		}
		sw.resync(cur, reason)
	}
	for _, e := range replay {
		sw.alert(s.hub, e)
	}
	var (
		gen      uint64
		buf      []readingUpdate
		shelfGen = s.hub.shelfGen.Load()
	)
	sendReadings := func() {
		if !withReadings {
			return
		}
		buf, gen = s.hub.readingsSince(gen, site, buf[:0])
		if len(buf) > 0 {
			sw.event(eventReadings, "", buf)
		}
	}
	sendReadings()
	if sw.flush() != nil {
		return
	}

	readings := time.NewTicker(s.opts.ReadingsEvery)
	defer readings.Stop()
	heartbeat := time.NewTicker(s.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.hub.done:
			return
		case e := <-sub.ch:
			sw.arm()
			sw.alert(s.hub, e)
			for n := 1; n < replayBatch; n++ {
				select {
				case e := <-sub.ch:
					sw.alert(s.hub, e)
					continue
				default:
				}
				break
			}
		case <-sub.gone:
			sw.arm()
			s.log.Warn("console: stream fell behind, told to resync", "remote", r.RemoteAddr, "buffer", cap(sub.ch))
			// Start over from now; the browser reloads the state over the
			// API, and whatever it applies twice is idempotent.
			sub, _, _, cur = s.hub.subscribe("")
			sw.resync(cur, resyncOverflow)
		case <-readings.C:
			sw.arm()
			sendReadings()
			if g := s.hub.shelfGen.Load(); g != shelfGen {
				shelfGen = g
				sw.event(eventShelves, "", struct{}{})
			}
		case <-heartbeat.C:
			sw.arm()
			sw.raw(": ping\n\n")
		}
		if err := sw.flush(); err != nil {
			s.log.Debug("console: stream closed", "remote", r.RemoteAddr, "err", err)
			return
		}
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
