package ingest

import (
	"errors"
	"log/slog"
	"time"

	"github.com/riskmon/riskmon/sensors"
	"golang.org/x/time/rate"
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

// Reject records one rejected message or reading.
func (r *Rejecter) Reject(e DeadLetterEntry, payload []byte) {
	if c := r.m.Rejected(e.Reason); c != nil {
		c.Inc()
	}
	r.log.note(&e)
	if err := r.dl.Add(e, payload); err != nil {
		// The counter already has it; losing the parked copy is bad but
		// must not stop the stream.
		r.log.log.Error("dead-letter store failed", "err", err)
	}
}

// Processor decodes and validates messages. It owns a decoder and a
// reading buffer, so each worker needs its own.
type Processor struct {
	reg *sensors.Registry
	lim Limits
	dec *Decoder
	rej *Rejecter
	m   *Metrics
	out []sensors.Reading
}

// NewProcessor returns a processor for one worker.
func NewProcessor(reg *sensors.Registry, lim Limits, rej *Rejecter, m *Metrics) *Processor {
	lim = lim.withDefaults()
	return &Processor{reg: reg, lim: lim, dec: NewDecoder(lim.MaxReadingsPerMessage), rej: rej, m: m}
}

// Process turns one readings message into valid readings; everything
// rejected on the way is counted and parked. The returned slice is reused
// by the next call. now is the receive time that timestamp limits use.
func (p *Processor) Process(topic string, payload []byte, now time.Time) []sensors.Reading {
	p.m.Messages.Inc()
	p.out = p.out[:0]
	if len(payload) > p.lim.MaxPayloadBytes {
		p.rej.Reject(DeadLetterEntry{Time: now, Topic: topic, Reason: ReasonTooLarge,
			Detail: "payload exceeds limits.max_payload_bytes"}, payload)
		return p.out
	}
	pt, err := ParseTopic(topic)
	if err != nil {
		p.rej.Reject(DeadLetterEntry{Time: now, Topic: topic, Reason: ReasonBadTopic, Detail: err.Error()}, payload)
		return p.out
	}
	site, ok := p.reg.Site(pt.Site)
	if !ok {
		p.rej.Reject(DeadLetterEntry{Time: now, Topic: topic, Reason: ReasonUnknownSite,
			Detail: "site " + pt.Site + " is not in the registry"}, payload)
		return p.out
	}
	b, err := p.dec.Decode(payload)
	if err != nil {
		reason := ReasonMalformed
		var de *DecodeError
		if errors.As(err, &de) {
			reason = de.Reason
		}
		p.rej.Reject(DeadLetterEntry{Time: now, Topic: topic, Reason: reason, Detail: err.Error()}, payload)
		return p.out
	}
	p.m.Readings.Add(float64(len(b.Items)))
	for i := range b.Items {
		it := &b.Items[i]
		r, reason, detail := validate(p.reg, site, it, now, &p.lim)
		if reason != "" {
			p.rej.Reject(DeadLetterEntry{Time: now, Topic: topic, Reason: reason, Detail: detail, Sensor: string(it.Sensor)}, payload)
			continue
		}
		p.out = append(p.out, r)
	}
	p.m.Accepted.Add(float64(len(p.out)))
	return p.out
}
