package rulefile

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// guidanceItem is one rule's response procedure and consequence.
type guidanceItem struct {
	at pos
	g  sensors.Guidance
}

// maxGuidanceText bounds one procedure or consequence: the board shows it
// in a row and a chat message in a line, so it is a first step and a
// pointer to the site's plan, not the plan.
const maxGuidanceText = 300

// fixedRules are the rules that are not a kind's own nor a composite
// rule's: monitoring, sensor health and groups.
var fixedRules = []string{
	alerting.RuleGatewayOffline, alerting.RuleDeviceOffline, alerting.RuleGatewayMismatch, alerting.RuleDataLoss, alerting.RuleStorageBacklog,
	alerting.RuleJournalFailed, alerting.RuleJournalTorn, alerting.RuleClockSkew, alerting.RuleStoreDamaged,
	alerting.RuleClusterUnavailable, alerting.RuleClusterUnowned,
	alerting.RuleSensorStuck, alerting.RuleSensorJump, alerting.RuleSensorStale,
	alerting.RuleSensorDisagreement, alerting.RuleGroupVote,
}

// kindRuleSuffixes are the rules a kind has, <kind><suffix>.
var kindRuleSuffixes = []string{"_high", "_low", "_rate", "_trend", "_forecast", "_twa", "_stel"}

// knownRule reports whether rule is a rule riskmon has whatever the rule
// files say: a fixed rule or a kind's own. Composite rules are checked
// against the set once every file is read.
func knownRule(cat *sensors.Catalog, rule string) bool {
	for _, r := range fixedRules {
		if r == rule {
			return true
		}
	}
	for _, suf := range kindRuleSuffixes {
		if kind, ok := strings.CutSuffix(rule, suf); ok && kind != "" {
			if _, ok := cat.Kind(sensors.KindID(kind)); ok {
				return true
			}
		}
	}
	return false
}

// guidance reads the guidance block: rule id to procedure and
// consequence, each {zh, en}.
//
//	guidance:
//	  combustible_gas_high:
//	    procedure: {zh: "…", en: "…"}
//	    consequence: {zh: "…"}
func (l *loader) guidance(n *yaml.Node) {
	if isNull(n) {
		return
	}
	es, ok := l.mapping(n, "guidance", nil)
	if !ok {
		return
	}
	for _, e := range es {
		rule, ok := l.ident(e.k, "guidance rule id")
		if !ok {
			continue
		}
		what := "guidance " + rule
		before := len(l.set.problems)
		fs, ok := l.mapping(e.v, what, []string{"procedure", "consequence"})
		if !ok {
			continue
		}
		var g sensors.Guidance
		for _, f := range fs {
			t := l.text(f.v, what+": "+f.key)
			if f.key == "procedure" {
				g.Procedure = t
			} else {
				g.Consequence = t
			}
		}
		switch {
		case len(l.set.problems) > before:
			continue
		case g.IsZero():
			l.addf(e.v.Line, "%s: give a procedure or a consequence", what)
			continue
		}
		if prev, dup := l.set.guidance[rule]; dup {
			l.addf(e.k.Line, "guidance for rule %s is already set at %s", rule, prev.at)
			continue
		}
		if !knownRule(l.cat, rule) {
			// Perhaps a composite rule of this or another file: checked
			// when every file is read.
			l.set.guidanceUnknown = append(l.set.guidanceUnknown, rule)
		}
		l.set.guidance[rule] = guidanceItem{at: l.pos(e.k.Line), g: g}
	}
}

// text reads {zh: …, en: …}: one line each, at least one of them.
func (l *loader) text(n *yaml.Node, what string) sensors.Text {
	var t sensors.Text
	es, ok := l.mapping(n, what, []string{"zh", "en"})
	if !ok {
		return t
	}
	for _, e := range es {
		s, ok := l.scalar(e.v, what+"."+e.key)
		if !ok {
			continue
		}
		s = strings.TrimSpace(s)
		switch {
		case s == "":
			l.addf(e.v.Line, "%s.%s is empty", what, e.key)
			continue
		case strings.ContainsFunc(s, unicode.IsControl):
			l.addf(e.v.Line, "%s.%s holds a line break or other control character", what, e.key)
			continue
		case utf8.RuneCountInString(s) > maxGuidanceText:
			l.addf(e.v.Line, "%s.%s is %d characters, more than %d: write the first steps and name the site's plan", what, e.key, utf8.RuneCountInString(s), maxGuidanceText)
			continue
		}
		if e.key == "zh" {
			t.ZH = s
		} else {
			t.EN = s
		}
	}
	if len(n.Content) == 0 {
		l.addf(n.Line, "%s: give zh, en or both", what)
	}
	return t
}

// checkGuidance reports the guidance of rules no file defines.
func (s *Set) checkGuidance(c *checker) {
	for _, rule := range s.guidanceUnknown {
		defined := false
		for _, r := range s.composites {
			if r.c.ID == rule {
				defined = true
				break
			}
		}
		if !defined {
			c.add(s.guidance[rule].at, "guidance for unknown rule %q (a kind's rule such as combustible_gas_high, a monitoring rule such as gateway_offline, or a composite rule's id)", rule)
		}
	}
}

// Guidance is the response procedure and consequence the rule files give
// per rule id; they win over a site's guidance in the registry and the
// shipped texts of the kind (alarmtext.GuidanceFor). Nil when there is
// none.
func (s *Set) Guidance() map[string]sensors.Guidance {
	if len(s.guidance) == 0 {
		return nil
	}
	out := make(map[string]sensors.Guidance, len(s.guidance))
	for rule, it := range s.guidance {
		out[rule] = it.g
	}
	return out
}
