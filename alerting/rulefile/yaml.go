package rulefile

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/sensors/yamlpos"
)

// loader reads one rule file into a Set, collecting every problem with
// its line.
type loader struct {
	cat  *sensors.Catalog
	file string
	set  *Set
}

func (l *loader) addf(line int, format string, a ...any) {
	l.set.problems = append(l.set.problems, sensors.Problem{File: l.file, Line: line, Msg: fmt.Sprintf(format, a...)})
}

func (l *loader) pos(line int) pos { return pos{file: l.file, line: line} }

// yamlError turns a YAML syntax error into a problem, the way the
// registry's loader does.
func (l *loader) yamlError(err error) {
	line, msg := yamlpos.ErrorLine(err)
	l.addf(line, "%s", msg)
}

// entry is one key and its value in a mapping, in file order.
type entry struct {
	key string
	k   *yaml.Node
	v   *yaml.Node
}

// mapping checks that n is a mapping with plain keys, each given once,
// and returns its entries in file order. Allowed limits the keys; nil
// allows any (the caller checks them, as for kind and sensor ids).
func (l *loader) mapping(n *yaml.Node, what string, allowed []string) ([]entry, bool) {
	if n.Kind != yaml.MappingNode {
		l.addf(n.Line, "%s: want a mapping, got %s", what, sensors.DescribeNode(n))
		return nil, false
	}
	out := make([]entry, 0, len(n.Content)/2)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			l.addf(k.Line, "%s: want a plain key, got %s", what, sensors.DescribeNode(k))
		case allowed != nil && !slices.Contains(allowed, k.Value):
			l.addf(k.Line, "%s: unknown key %q (want %s)", what, k.Value, strings.Join(allowed, ", "))
		case seen[k.Value]:
			l.addf(k.Line, "%s: key %q given twice", what, k.Value)
		default:
			seen[k.Value] = true
			out = append(out, entry{key: k.Value, k: k, v: v})
		}
	}
	return out, true
}

// list returns the items of a sequence; nil for null.
func (l *loader) list(n *yaml.Node, what string) []*yaml.Node {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.addf(n.Line, "%s: want a list, got %s", what, sensors.DescribeNode(n))
		return nil
	}
	return n.Content
}

// scalar returns a scalar's text; it reports false, having said why, for
// anything else.
func (l *loader) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		l.addf(n.Line, "%s: want a single value, got %s", what, sensors.DescribeNode(n))
		return "", false
	}
	return n.Value, true
}

func (l *loader) duration(n *yaml.Node, what string, zeroOK bool) (time.Duration, bool) {
	s, ok := l.scalar(n, what)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		l.addf(n.Line, "%s: %q is not a duration (write e.g. 30s, 5m, 2h)", what, s)
		return 0, false
	case d < 0 || (d == 0 && !zeroOK):
		l.addf(n.Line, "%s: %s must be positive", what, s)
		return 0, false
	}
	return d, true
}

// number parses a finite number; positive asks for > 0, else >= 0.
func (l *loader) number(n *yaml.Node, what string, positive bool) (float64, bool) {
	s, ok := l.scalar(n, what)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
		l.addf(n.Line, "%s: %q is not a number", what, s)
		return 0, false
	case positive && v <= 0:
		l.addf(n.Line, "%s: %s must be positive", what, s)
		return 0, false
	case v < 0:
		l.addf(n.Line, "%s: %s must not be negative", what, s)
		return 0, false
	}
	return v, true
}

func (l *loader) integer(n *yaml.Node, what string, lo, hi int) (int, bool) {
	s, ok := l.scalar(n, what)
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		l.addf(n.Line, "%s: %q is not a whole number from %d to %d", what, s, lo, hi)
		return 0, false
	}
	return v, true
}

func (l *loader) level(n *yaml.Node, what string) (sensors.Level, bool) {
	s, ok := l.scalar(n, what)
	if !ok {
		return 0, false
	}
	lv, err := sensors.ParseLevel(s)
	if err != nil {
		l.addf(n.Line, "%s: %v", what, err)
		return 0, false
	}
	return lv, true
}

func (l *loader) direction(n *yaml.Node, what string) (sensors.Direction, bool) {
	s, ok := l.scalar(n, what)
	if !ok {
		return 0, false
	}
	if s == "" {
		l.addf(n.Line, "%s: want above or below", what)
		return 0, false
	}
	d, err := sensors.ParseDirection(s)
	if err != nil {
		l.addf(n.Line, "%s: %v", what, err)
		return 0, false
	}
	return d, true
}

// ident checks a site, sensor, group or rule id with the registry's own
// check, so any id the registry accepts can be named here.
func (l *loader) ident(n *yaml.Node, what string) (string, bool) {
	s, ok := l.scalar(n, what)
	if !ok {
		return "", false
	}
	if s == "" {
		l.addf(n.Line, "%s is empty", what)
		return "", false
	}
	if !sensors.ValidID(s) {
		l.addf(n.Line, "bad %s %q: use letters, digits, '-', '_' and '.'", what, s)
		return "", false
	}
	return s, true
}

// isOff reports whether n is written as "off" or "false", which turns a
// rule off.
func isOff(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && (n.Value == "off" || n.Value == "false") && n.Style == 0
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}
