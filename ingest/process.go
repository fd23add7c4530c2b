package ingest

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/riskmon/riskmon/protocol"
	"github.com/riskmon/riskmon/protocol/lineproto"
	"github.com/riskmon/riskmon/protocol/sparkplug"
	"github.com/riskmon/riskmon/sensors"
)

// rejectLog logs each reason at most once per window, so a gateway
// flooding bad messages cannot flood the log; the counters and the
// dead-letter store still see every one.
type rejectLog struct {
	log *slog.Logger
	per map[Reason]*rate.Sometimes
}

func newRejectLog(log *slog.Logger, window time.Duration) *rejectLog {
	rl := &rejectLog{log: log, per: map[Reason]*rate.Sometimes{}}
	for _, r := range AllReasons() {
		rl.per[r] = &rate.Sometimes{First: 1, Interval: window}
	}
	return rl
}

func (rl *rejectLog) note(e *DeadLetterEntry) {
	s, ok := rl.per[e.Reason]
	if !ok {
		return
	}
	s.Do(func() {
		rl.log.Warn("rejected input (further rejections for this reason are counted, not logged, for a while)",
			"reason", e.Reason, "topic", e.Topic, "sensor", e.Sensor, "detail", e.Detail)
	})
}

// Rejecter counts, logs (rate-limited) and parks rejected input. It is
// shared by every worker.
type Rejecter struct {
	m   *Metrics
	dl  *DeadLetter
	log *rejectLog
}

// NewRejecter wires the three places a rejection goes.
func NewRejecter(m *Metrics, dl *DeadLetter, log *slog.Logger, window time.Duration) *Rejecter {
	return &Rejecter{m: m, dl: dl, log: newRejectLog(log, window)}
}

// Reject records one rejected message.
func (r *Rejecter) Reject(e DeadLetterEntry, payload []byte) {
	r.count(&e)
	if e.Gateway == "" {
		e.Gateway = GatewayOf(e.Topic)
	}
	r.park(e, payload)
}

// count counts and logs (rate-limited) one rejection.
func (r *Rejecter) count(e *DeadLetterEntry) {
	if c := r.m.Rejected(e.Reason); c != nil {
		c.Inc()
	}
	r.log.note(e)
}

// park stores a message's dead-letter entry.
func (r *Rejecter) park(e DeadLetterEntry, payload []byte) {
	if err := r.dl.Add(e, payload); err != nil {
		// The counter already has it; losing the parked copy is bad but
		// must not stop the stream.
		r.log.log.Error("dead-letter store failed", "err", err)
	}
}

// Command is a message riskmon must publish in answer, such as a
// Sparkplug rebirth request.
type Command struct {
	Topic   string
	Payload []byte
}

// Output is what one message yields. Its slices are reused by the next
// call of the processor.
type Output struct {
	Readings []sensors.Reading
	Events   []sensors.GatewayEvent
	Commands []Command
}

type gatewayKey struct{ site, gateway string }

// maxGateways bounds the per-worker sequence state.
const maxGateways = 100_000

type lastValue struct {
	ms    int64
	value float64
	seen  bool
}

// Processor decodes and validates messages of every format. It owns
// decoders, buffers and per-gateway sequence state, so each worker needs
// its own; one gateway's messages must always reach the same processor.
type Processor struct {
	reg *sensors.Registry
	// follow, when set, is where a reload publishes a new registry; the
	// processor takes it up at its next message.
	follow *sensors.Provider
	lim    Limits
	dec    *protocol.Decoder
	rej    *Rejecter
	m      *Metrics
	spb    *sparkplug.Tracker
	out    Output
	items  []Item
	lpBuf  []protocol.Reading
	seq    *seqTracker
	clock  map[gatewayKey]*clockState
	// lastSeen is the last reading of each sensor, by Sensor.Index of reg.
	lastSeen []lastValue
	// nextAt is, by SiteRef.Index of reg, the entry after the last one
	// the site's previous message matched, when it is of the same site:
	// where its next message most likely begins.
	nextAt []*sensors.Sensor
	// spbFrom is the edge node and device each sensor matched by its
	// metric name (no Sparkplug address in the registry) came from first,
	// to catch a second device publishing the same name.
	spbFrom map[*sensors.Sensor]spbOrigin
	// mismatch is when each sensor last arrived through another gateway
	// than its registered one was reported, and through which.
	mismatch map[*sensors.Sensor]mismatchSeen
	// dlq gathers the present message's rejections, parked as one entry.
	dlq messageRejects
}

type spbOrigin struct{ gateway, device string }

type mismatchSeen struct {
	gateway string
	told    time.Time
}

// gatewayMismatchEvery is how often a sensor still arriving through
// another gateway than its registered one is reported again, keeping the
// alert open (it expires without reports).
const gatewayMismatchEvery = 2 * time.Minute

// NewProcessor returns a processor for one worker. The Sparkplug tracker
// is shared by all workers (it locks), since it holds the aliases of
// every edge node.
func NewProcessor(reg *sensors.Registry, lim Limits, rej *Rejecter, m *Metrics, spb *sparkplug.Tracker) *Processor {
	lim = lim.withDefaults()
	if spb == nil {
		spb = sparkplug.NewTracker()
	}
	return &Processor{reg: reg, lim: lim, dec: protocol.NewDecoder(lim.MaxReadingsPerMessage), rej: rej, m: m, spb: spb,
		seq: newSeqTracker(lim.SeqGrace), clock: map[gatewayKey]*clockState{}, lastSeen: make([]lastValue, reg.Len()),
		nextAt:  make([]*sensors.Sensor, reg.NumSites()),
		spbFrom: map[*sensors.Sensor]spbOrigin{}, mismatch: map[*sensors.Sensor]mismatchSeen{}}
}

// Process handles one message; everything rejected on the way is counted,
// and the message parked once with the list of its rejections. now is the
// receive time that timestamp limits use.
func (p *Processor) Process(topic string, payload []byte, now time.Time) *Output {
	p.dlq.reset()
	out := p.process(topic, payload, now)
	if e, ok := p.dlq.entry(topic, now); ok {
		p.rej.park(e, payload)
	}
	return out
}

// reject counts a whole message's rejection; Process parks it.
func (p *Processor) reject(e DeadLetterEntry) {
	p.rej.count(&e)
	p.dlq.whole = &e
}

// rejectReading counts the rejection of the message's reading i;
// Process parks it with the message.
func (p *Processor) rejectReading(topic string, now time.Time, i int, sensor string, reason Reason, detail string) {
	if strings.HasSuffix(topic, "/"+protocol.LeafLP) && !strings.HasPrefix(detail, "line protocol entry ") {
		// Decode rejections name their entry already; the checks made
		// here (registry, range, time) say it the same way.
		detail = fmt.Sprintf("line protocol entry %d: %s", i+1, detail)
	}
	p.rej.count(&DeadLetterEntry{Time: now, Topic: topic, Reason: reason, Detail: detail, Sensor: sensor})
	p.dlq.readings = append(p.dlq.readings, RejectedReading{Index: i, Sensor: strings.Clone(sensor), Reason: reason, Detail: detail})
}

func (p *Processor) process(topic string, payload []byte, now time.Time) *Output {
	if p.follow != nil {
		if r := p.follow.Registry(); r != p.reg {
			p.reg = r
			// Indexed by the old registry's sensors.
			p.lastSeen = make([]lastValue, r.Len())
			p.nextAt = make([]*sensors.Sensor, r.NumSites())
			clear(p.spbFrom)
			clear(p.mismatch)
		}
	}
	p.m.Messages.Inc()
	p.out.Readings, p.out.Events, p.out.Commands = p.out.Readings[:0], p.out.Events[:0], p.out.Commands[:0]
	p.seq.expire(now, func(site, gateway string, missing int) { p.seqLost(site, gateway, missing, now) })
	reject := func(r Reason, detail string) *Output {
		p.reject(DeadLetterEntry{Time: now, Topic: topic, Reason: r, Detail: detail})
		return &p.out
	}
	if len(payload) > p.lim.MaxPayloadBytes {
		return reject(ReasonTooLarge, "payload exceeds limits.max_payload_bytes")
	}
	if strings.HasPrefix(topic, sparkplug.Namespace+"/") {
		return p.processSparkplug(topic, payload, now)
	}
	pt, err := protocol.ParseTopic(topic)
	if err != nil {
		return reject(ReasonBadTopic, err.Error())
	}
	ref, ok := p.reg.SiteRef(pt.Site)
	if !ok {
		return reject(ReasonUnknownSite, "site "+pt.Site+" is not in the registry")
	}
	site := ref.Site
	switch pt.Leaf {
	case protocol.LeafReadings:
		b, err := p.dec.Decode(payload)
		if err != nil {
			return reject(reasonOf(err, ReasonMalformed), err.Error())
		}
		if b.HasSeq {
			p.checkSeq(site.ID, pt.Gateway, b.Seq, now)
		}
		p.items = p.items[:0]
		for i := range b.Readings {
			p.items = append(p.items, itemOf(&b.Readings[i]))
		}
		p.checkClock(site.ID, pt.Gateway, p.validateAll(topic, pt.Gateway, ref, p.items, now, p.clockWrong(site.ID, pt.Gateway)), now)
	case protocol.LeafLP:
		rs, err := lineproto.Decode(payload, p.lpBuf[:0])
		p.lpBuf = rs
		if err != nil {
			return reject(reasonOf(err, ReasonMalformedLP), err.Error())
		}
		p.items = p.items[:0]
		for i := range rs {
			p.items = append(p.items, itemOf(&rs[i]))
		}
		p.checkClock(site.ID, pt.Gateway, p.validateAll(topic, pt.Gateway, ref, p.items, now, p.clockWrong(site.ID, pt.Gateway)), now)
	case protocol.LeafStatus:
		switch strings.TrimSpace(string(payload)) {
		case protocol.StatusOnline:
			p.out.Events = append(p.out.Events, sensors.GatewayEvent{Site: site.ID, Gateway: strings.Clone(pt.Gateway), Kind: sensors.GatewayOnline, Source: "status", At: now})
		case protocol.StatusOffline:
			p.out.Events = append(p.out.Events, sensors.GatewayEvent{Site: site.ID, Gateway: strings.Clone(pt.Gateway), Kind: sensors.GatewayOffline, Source: "status", At: now})
		default:
			return reject(ReasonBadStatus, `status payload is neither "online" nor "offline"`)
		}
	default:
		return reject(ReasonBadTopic, "unknown topic leaf "+pt.Leaf+" (want readings, lp or status)")
	}
	return &p.out
}

// reasonOf takes a decoder's own reason when it has one.
func reasonOf(err error, fallback Reason) Reason {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Reason != "" {
		return Reason(pe.Reason)
	}
	return fallback
}

// itemOf turns a reading as any of the wire formats decoded it into the
// item validation works on.
func itemOf(r *protocol.Reading) Item {
	return Item{Sensor: r.Sensor, Value: r.Value, Time: r.Time, Quality: r.Quality,
		Historical: r.Historical, Reject: Reason(r.Reject), Detail: r.Detail}
}

func (p *Processor) processSparkplug(topic string, payload []byte, now time.Time) *Output {
	// Refuse unknown groups before the tracker learns anything of them:
	// its state must not grow with what strangers publish.
	if t, err := sparkplug.ParseTopic(topic); err == nil {
		switch t.Type {
		case sparkplug.STATE, sparkplug.NCMD, sparkplug.DCMD:
			return &p.out // host state and commands (ours included) carry no readings
		}
		if _, ok := p.reg.Site(t.Group); !ok {
			p.reject(DeadLetterEntry{Time: now, Topic: topic, Reason: ReasonUnknownSite,
				Detail: "Sparkplug group " + t.Group + " is not a site in the registry"})
			return &p.out
		}
	}
	res, err := p.spb.Handle(topic, payload, now)
	if err != nil {
		p.reject(DeadLetterEntry{Time: now, Topic: topic, Reason: reasonOf(err, ReasonMalformedSpB), Detail: err.Error()})
		return &p.out
	}
	if res.SaveErr != nil {
		p.rej.log.log.Warn("Sparkplug edge node state not saved; after a restart its node is asked to rebirth", "topic", topic, "err", res.SaveErr)
	}
	if res.NeedRebirth {
		t, b := sparkplug.RebirthRequest(res.Site, res.Gateway)
		p.out.Commands = append(p.out.Commands, Command{Topic: t, Payload: b})
	}
	ref, ok := p.reg.SiteRef(res.Site)
	if !ok {
		return &p.out // STATE and other host messages carry no site
	}
	site := ref.Site
	if res.SeqGap > 0 {
		p.m.SeqGaps.Add(float64(res.SeqGap))
		p.out.Events = append(p.out.Events, sensors.GatewayEvent{Site: site.ID, Gateway: res.Gateway, Kind: sensors.GatewaySeqGap, Missing: res.SeqGap, Source: "sparkplug", At: now})
	}
	if res.Device == "" {
		switch res.Event {
		case sparkplug.EventOnline:
			p.out.Events = append(p.out.Events, sensors.GatewayEvent{Site: site.ID, Gateway: res.Gateway, Kind: sensors.GatewayOnline, Source: "sparkplug", At: now})
		case sparkplug.EventOffline:
			p.out.Events = append(p.out.Events, sensors.GatewayEvent{Site: site.ID, Gateway: res.Gateway, Kind: sensors.GatewayOffline, Source: "sparkplug", At: now})
		}
	} else {
		switch res.Event {
		case sparkplug.EventOnline:
			p.out.Events = append(p.out.Events, sensors.GatewayEvent{Site: site.ID, Gateway: strings.Clone(res.Gateway), Device: strings.Clone(res.Device), Kind: sensors.DeviceOnline, Source: "sparkplug", At: now})
		case sparkplug.EventOffline:
			p.out.Events = append(p.out.Events, sensors.GatewayEvent{Site: site.ID, Gateway: strings.Clone(res.Gateway), Device: strings.Clone(res.Device), Kind: sensors.DeviceOffline, Source: "sparkplug", At: now})
		}
	}
	p.items = p.items[:0]
	unmonitored := 0
	for i := range res.Readings {
		it := itemOf(&res.Readings[i])
		if it.Reject == "" {
			p.resolveSparkplug(site, res.Gateway, res.Device, &it)
		}
		if p.unmonitored(site, &it) {
			unmonitored++
			continue
		}
		p.items = append(p.items, it)
	}
	p.m.Readings.Add(float64(unmonitored))
	p.checkClock(site.ID, res.Gateway, p.validateAll(topic, res.Gateway, ref, p.items, now, p.clockWrong(site.ID, res.Gateway)), now)
	return &p.out
}

// resolveSparkplug names the registry sensor a Sparkplug metric of device
// (empty for the edge node's own metrics) measures: the sensor registered
// at that Sparkplug address, or else the one whose id is the metric name.
// A name match is refused when the registry places that sensor at another
// address, or when another device of this worker's edge nodes already
// publishes it: two instruments would fold into one series.
func (p *Processor) resolveSparkplug(site *sensors.Site, gateway, device string, it *Item) {
	if s, ok := p.reg.LookupSparkplug(site.ID, device, it.Sensor); ok {
		it.Sensor = s.ID
		return
	}
	s, ok := p.reg.Lookup(site.ID, it.Sensor)
	if !ok {
		return // validation or the unmonitored count takes it
	}
	if s.Sparkplug != "" {
		it.Reject, it.Detail = ReasonAddressCollision, fmt.Sprintf("metric %q of edge node %s device %q is no registered Sparkplug address; sensor %s is registered at %q",
			it.Sensor, gateway, device, s.ID, s.Sparkplug)
		return
	}
	from, seen := p.spbFrom[s]
	if !seen {
		p.spbFrom[s] = spbOrigin{strings.Clone(gateway), strings.Clone(device)}
		return
	}
	if from.gateway != gateway || from.device != device {
		it.Reject, it.Detail = ReasonAddressCollision, fmt.Sprintf("metric %q of edge node %s device %q matches sensor %s, which edge node %s device %q already publishes; give each instrument its Sparkplug address in the registry",
			it.Sensor, gateway, device, s.ID, from.gateway, from.device)
	}
}

// unmonitored counts, instead of parking, a Sparkplug metric riskmon does
// not monitor: a non-numeric type, or a name no registered sensor has
// (unless limits.dead_letter_unmonitored).
func (p *Processor) unmonitored(site *sensors.Site, it *Item) bool {
	if p.lim.DeadLetterUnmonitored {
		return false
	}
	reason := it.Reject
	switch reason {
	case ReasonUnsupported:
	case "":
		if _, ok := p.reg.Lookup(site.ID, it.Sensor); ok || len(it.Sensor) > protocol.MaxSensorID {
			return false
		}
		reason = ReasonUnknownSensor
	default:
		return false
	}
	p.m.Unmonitored(reason).Inc()
	return true
}

// checkSeq follows a gateway's JSON batch seq. A jump opens a gap that
// messages arriving late fill; what is still missing after
// limits.seq_grace is reported as lost by Expire (docs/protocol.md).
func (p *Processor) checkSeq(site, gateway string, seq uint64, now time.Time) {
	res := p.seq.observe(site, gateway, seq, now)
	if res.late > 0 {
		p.m.SeqLate.Add(float64(res.late))
	}
	if res.lost > 0 {
		p.seqLost(site, gateway, res.lost, now)
	}
}

func (p *Processor) seqLost(site, gateway string, missing int, now time.Time) {
	p.m.SeqGaps.Add(float64(missing))
	p.out.Events = append(p.out.Events, sensors.GatewayEvent{Site: site, Gateway: strings.Clone(gateway), Kind: sensors.GatewaySeqGap,
		Missing: missing, Source: "seq", At: now})
}

// Expire reports the messages of gaps open longer than limits.seq_grace as
// lost. The worker calls it between messages and on a timer, so a loss is
// reported even when the gateway goes quiet after it. The Output is
// reused by the next call of the processor.
func (p *Processor) Expire(now time.Time) *Output {
	p.out.Readings, p.out.Events, p.out.Commands = p.out.Readings[:0], p.out.Events[:0], p.out.Commands[:0]
	p.seq.expire(now, func(site, gateway string, missing int) { p.seqLost(site, gateway, missing, now) })
	return &p.out
}

// validateAll validates a message's items and reports the clock offset
// (device time minus now) of its last live reading, ok false when it had
// none. clockWrong says the gateway's clock is reported skewed, so a
// reading far behind the receive time is its clock's doing, not a delay.
//
// The registry's gateway column says which gateway a sensor is wired to.
// A reading that arrives through another gateway is accepted all the same
// (a reading is never thrown away for bookkeeping) and flagged: counted in
// riskmon_ingest_gateway_mismatch_total and reported as GatewayMismatch.
func (p *Processor) validateAll(topic, gateway string, ref sensors.SiteRef, items []Item, now time.Time, clockWrong bool) clockSample {
	var cs clockSample
	p.m.Readings.Add(float64(len(items)))
	site := ref.Site
	// A gateway mostly lists its sensors in registry order, so the entry
	// after the last one matched is tried before the registry's maps: a
	// string comparison instead of two map lookups per reading. The first
	// reading of a message is tried against where the site's previous
	// message left off, or else the site's first sensor (a gateway that
	// sends all its sensors in each message, or has come round to its
	// first again).
	order := p.reg.Sensors()
	hint := p.nextAt[ref.Index]
	if hint == nil || len(items) == 0 || hint.ID != items[0].Sensor {
		hint = ref.First
	}
	var last *sensors.Sensor
	for i := range items {
		it := &items[i]
		ahead := it.Time.Sub(now)
		r, s, reason, detail := validate(p.reg, site, hint, it, now, ahead, &p.lim)
		hint = nil
		if s != nil {
			last = s
			if s.Index()+1 < len(order) {
				hint = order[s.Index()+1]
			}
		}
		if reason != "" {
			p.rejectReading(topic, now, i, it.Sensor, reason, detail)
			continue
		}
		if d := ahead; !r.Historical { // r.Time is it.Time
			cs = clockSample{offset: d, ok: true}
			switch tol := p.lim.SkewTolerance; {
			case d > tol, -d > tol && clockWrong:
				// Ahead of the receive time no transit delay explains;
				// behind it with the steady offset of a clock set wrong.
				r.ClockSkewed = true
				p.m.Skewed.Inc()
			case -d > tol:
				// Behind, and the gateway's clock is not known to be
				// wrong: the reading waited somewhere (a broker's backlog
				// after an outage, intake held at the spool cap). Its
				// clock is fine; the delay is recorded, not blamed on it.
				r.Delayed = true
				p.m.Delayed.Inc()
			}
		}
		ms := r.Time.UnixMilli()
		lv := &p.lastSeen[s.Index()] // s is an entry of p.reg
		if lv.seen && lv.ms == ms && lv.value != r.Value {
			// Same sensor, same time, another value: the later one
			// overwrites the point in storage; count it so it is seen.
			p.m.Conflicts.Inc()
		}
		*lv = lastValue{ms, r.Value, true}
		if s.Gateway != "" && s.Gateway != gateway {
			p.flagGateway(s, gateway, now)
		}
		r.Received = now
		p.out.Readings = append(p.out.Readings, r)
	}
	if last != nil {
		p.nextAt[ref.Index] = nil
		if hint != nil && hint.Site == site.ID {
			p.nextAt[ref.Index] = hint
		}
	}
	p.m.Accepted.Add(float64(len(p.out.Readings)))
	return cs
}

// flagGateway counts a reading of s that arrived through gateway, not its
// registered one, and reports it at first sight, on a change of gateway,
// and every gatewayMismatchEvery while it lasts.
func (p *Processor) flagGateway(s *sensors.Sensor, gateway string, now time.Time) {
	p.m.GatewayMismatch.Inc()
	seen, ok := p.mismatch[s]
	if ok && seen.gateway == gateway && now.Sub(seen.told) < gatewayMismatchEvery && !now.Before(seen.told) {
		return
	}
	gw := strings.Clone(gateway)
	p.mismatch[s] = mismatchSeen{gateway: gw, told: now}
	p.out.Events = append(p.out.Events, sensors.GatewayEvent{Site: s.Site, Gateway: gw, Sensor: s.ID, Registered: s.Gateway,
		Kind: sensors.GatewayMismatch, Source: "registry", At: now})
}

// clockSample is the clock offset one message showed.
type clockSample struct {
	offset time.Duration
	ok     bool
}

// clockState follows one gateway whose readings are off riskmon's clock.
type clockState struct {
	since  time.Time     // receive time the present steady offset was first seen
	base   time.Duration // that offset
	raised bool          // sensors.GatewayClockSkew was reported and not yet cleared
	told   time.Time     // when it was last reported
}

// clockWrong reports whether a gateway's clock is reported skewed now.
func (p *Processor) clockWrong(site, gateway string) bool {
	if len(p.clock) == 0 {
		return false // the usual case: no gateway off, no lookup
	}
	st := p.clock[gatewayKey{site, gateway}]
	return st != nil && st.raised
}

// clockSkewHold is how long a gateway's offset must stay beyond the
// tolerance, and steady, before its clock is reported as skewed, and how
// often it is reported again while it stays so.
const clockSkewHold = 2 * time.Minute

// checkClock reports a gateway whose clock is set wrong: its live readings
// stay beyond limits.skew_tolerance from the receive time with a steady
// offset for clockSkewHold. A steady offset is what a wrong clock gives;
// an offset that keeps moving is a source replaying or running faster
// than real time (a gateway catching up, an accelerated simulation), and
// each move starts the wait again. Readings back within the tolerance
// clear it.
func (p *Processor) checkClock(site, gateway string, cs clockSample, now time.Time) {
	if !cs.ok {
		return
	}
	tol := p.lim.SkewTolerance
	k := gatewayKey{site, gateway}
	st := p.clock[k]
	if cs.offset <= tol && -cs.offset <= tol {
		if st != nil {
			if st.raised {
				p.out.Events = append(p.out.Events, sensors.GatewayEvent{Site: site, Gateway: strings.Clone(gateway), Kind: sensors.GatewayClockOK, Source: "clock", At: now})
			}
			delete(p.clock, k)
		}
		return
	}
	if st == nil {
		if len(p.clock) >= maxGateways {
			clear(p.clock) // bounded like lastSeq; at worst a report waits again
		}
		k.gateway = strings.Clone(gateway)
		st = &clockState{since: now, base: cs.offset}
		p.clock[k] = st
	}
	if d := cs.offset - st.base; d > tol/2 || -d > tol/2 {
		st.since, st.base = now, cs.offset
		return
	}
	// Reported again every clockSkewHold while it lasts: the alert is kept
	// open by these reports and expires without them, so one raised
	// before a restart (or before this state was dropped) still ends.
	if (!st.raised && now.Sub(st.since) >= clockSkewHold) || (st.raised && now.Sub(st.told) >= clockSkewHold) {
		st.raised, st.told = true, now
		p.out.Events = append(p.out.Events, sensors.GatewayEvent{Site: site, Gateway: strings.Clone(gateway), Kind: sensors.GatewayClockSkew, Skew: cs.offset, Source: "clock", At: now})
	}
}
