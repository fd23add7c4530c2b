package ingest

import (
	"strings"
	"time"
)

// DefaultSeqGrace is how long a sequence gap stays open for the missing
// messages to arrive before they count as lost.
const DefaultSeqGrace = time.Minute

// maxOpenGaps bounds the open gaps kept per gateway; past it the oldest is
// declared at once, so a gateway skipping numbers all the time cannot
// grow memory.
const maxOpenGaps = 64

// seqRange is the missing seqs from..to (inclusive) of one gateway, open
// until due.
type seqRange struct {
	from, to uint64
	due      time.Time
}

// seqState follows one gateway's JSON batch seq: the highest seen and the
// gaps below it still waiting for their messages.
type seqState struct {
	last uint64
	gaps []seqRange // in order of seq, so also of due
}

// seqTracker tells lost messages from late ones. A message can reach
// riskmon after a higher-numbered one of its gateway without being lost:
// the broker sends again what was left unacknowledged (after an overflow
// of a worker queue, or a reconnect), and a gateway's own client resends
// what the broker did not acknowledge. So a jump in seq opens a gap, a
// message that arrives with a missing seq fills its place in it (a late
// fill), and only what is still missing once the gap has been open for
// the grace period is reported as lost.
type seqTracker struct {
	grace time.Duration
	gws   map[gatewayKey]*seqState
	// open counts the gateways with open gaps, so expire has nothing to
	// scan in the common case.
	open int
	// next is the earliest due time of any open gap (zero: none).
	next time.Time
}

func newSeqTracker(grace time.Duration) *seqTracker {
	if grace <= 0 {
		grace = DefaultSeqGrace
	}
	return &seqTracker{grace: grace, gws: map[gatewayKey]*seqState{}}
}

// seqResult is what one seq showed: messages that filled a gap late, and
// messages declared lost because the gateway had more open gaps than are
// kept.
type seqResult struct {
	late, lost int
}

// observe notes seq of a gateway's message received at now.
func (t *seqTracker) observe(site, gateway string, seq uint64, now time.Time) seqResult {
	k := gatewayKey{site, gateway}
	st, seen := t.gws[k]
	if !seen {
		if len(t.gws) >= maxGateways {
			// Gateway ids come from topics; never let them grow memory
			// without bound. Forgetting costs at most a missed gap.
			clear(t.gws)
			t.open, t.next = 0, time.Time{}
		}
		k.gateway = strings.Clone(gateway)
		t.gws[k] = &seqState{last: seq}
		return seqResult{}
	}
	var res seqResult
	switch {
	case seq > st.last+1:
		if len(st.gaps) == 0 {
			t.open++
		}
		if len(st.gaps) == maxOpenGaps {
			res.lost += st.gaps[0].missing()
			st.gaps = append(st.gaps[:0], st.gaps[1:]...)
		}
		due := now.Add(t.grace)
		st.gaps = append(st.gaps, seqRange{from: st.last + 1, to: seq - 1, due: due})
		if t.next.IsZero() || due.Before(t.next) {
			t.next = due
		}
		st.last = seq
	case seq == st.last+1:
		st.last = seq
	default:
		// At or below the last: a message that fills a gap is late, not
		// lost.
		filled, lost := st.fill(seq)
		res.lost += lost
		switch {
		case filled:
			res.late++
			if len(st.gaps) == 0 {
				t.open--
			}
		case seq+1000 < st.last:
			// Far below the last and in no gap: the gateway restarted
			// its counter. What its old numbering still missed can no
			// longer be told from the new one's messages: lost.
			for _, g := range st.gaps {
				res.lost += g.missing()
			}
			if len(st.gaps) > 0 {
				st.gaps = st.gaps[:0]
				t.open--
			}
			st.last = seq
		}
		// Any other is a redelivery of a message already taken.
	}
	return res
}

// fill takes seq out of the gap that holds it, reporting whether one did.
// Splitting a gap past maxOpenGaps declares the oldest lost.
func (st *seqState) fill(seq uint64) (filled bool, lost int) {
	for i := range st.gaps {
		g := &st.gaps[i]
		if seq < g.from || seq > g.to {
			continue
		}
		switch {
		case g.from == g.to:
			st.gaps = append(st.gaps[:i], st.gaps[i+1:]...)
		case seq == g.from:
			g.from++
		case seq == g.to:
			g.to--
		default:
			tail := seqRange{from: seq + 1, to: g.to, due: g.due}
			g.to = seq - 1
			st.gaps = append(st.gaps, seqRange{})
			copy(st.gaps[i+2:], st.gaps[i+1:])
			st.gaps[i+1] = tail
			if len(st.gaps) > maxOpenGaps {
				lost = st.gaps[0].missing()
				st.gaps = append(st.gaps[:0], st.gaps[1:]...)
			}
		}
		return true, lost
	}
	return false, 0
}

func (g seqRange) missing() int { return int(min(g.to-g.from+1, 1<<31)) }

// expire calls lost for every gateway with gaps due at now, with the
// number of messages still missing in them, and closes those gaps.
func (t *seqTracker) expire(now time.Time, lost func(site, gateway string, missing int)) {
	if t.open == 0 || now.Before(t.next) {
		return
	}
	t.next = time.Time{}
	for k, st := range t.gws {
		if len(st.gaps) == 0 {
			continue
		}
		missing, n := 0, 0
		for _, g := range st.gaps {
			if g.due.After(now) {
				break
			}
			missing += g.missing()
			n++
		}
		if n > 0 {
			st.gaps = append(st.gaps[:0], st.gaps[n:]...)
			lost(k.site, k.gateway, missing)
		}
		if len(st.gaps) == 0 {
			t.open--
			continue
		}
		if t.next.IsZero() || st.gaps[0].due.Before(t.next) {
			t.next = st.gaps[0].due
		}
	}
}
