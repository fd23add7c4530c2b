package rulefile

import (
	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// Layer names the most specific layer of the set that decided rule for
// sensor sn, as "file:line (layer)", or "" when no layer touched it: the
// alerting.Layers that alerting.Explain reads. Rules are threshold (its
// on-delay, off-delay and M-of-N), rate, trend, forecast, stuck, jump,
// stale and exposure.
func (s *Set) Layer(sn *sensors.Sensor, rule string) string {
	var at *pos
	switch rule {
	case "threshold":
		for _, b := range s.layers(sn) {
			if b.forDur != nil || b.offDelay != nil || b.mofn != nil {
				at = &b.at
			}
		}
	case "exposure":
		if b := s.kinds[sn.Kind]; b != nil && b.exposure != nil {
			at = &b.exposure.at
		}
	default:
		_, t := s.pack(sn, alerting.SensorPack)
		at = map[string]*pos{"rate": t.rate, "trend": t.trend, "forecast": t.forecast,
			"stuck": t.stuck, "jump": t.jump, "stale": t.stale}[rule]
	}
	if at == nil {
		return ""
	}
	return at.String() + " (" + s.layerName(sn, *at) + ")"
}

// layerName says which of sn's layers is written at at.
func (s *Set) layerName(sn *sensors.Sensor, at pos) string {
	switch {
	case s.sensors[siteKey{sn.Site, sn.ID}] != nil && s.sensors[siteKey{sn.Site, sn.ID}].holds(at):
		return "sensor " + sn.Site + "/" + sn.ID
	case s.siteKinds[siteKey{sn.Site, string(sn.Kind)}] != nil && s.siteKinds[siteKey{sn.Site, string(sn.Kind)}].holds(at):
		return "site " + sn.Site + " kind " + string(sn.Kind)
	case s.kinds[sn.Kind] != nil && s.kinds[sn.Kind].holds(at):
		return "kind " + string(sn.Kind)
	}
	return "defaults"
}

// holds reports whether at is the block's or one of its rules'.
func (b *block) holds(at pos) bool {
	if b.at == at {
		return true
	}
	for _, p := range [...]*pos{patchAt(b.rate), patchAt(b.trend), patchAt(b.forecast), patchAt(b.stuck), patchAt(b.jump), patchAt(b.stale), patchAt(b.exposure)} {
		if p != nil && *p == at {
			return true
		}
	}
	return false
}

func patchAt[T any](p *patch[T]) *pos {
	if p == nil {
		return nil
	}
	return &p.at
}
