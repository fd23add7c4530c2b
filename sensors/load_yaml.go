package sensors

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/riskmon/riskmon/sensors/yamlpos"
)

// LoadYAML reads a registry in YAML, checked against cat; name is the file
// name problems are reported under. The format:
//
//	sites:
//	  - id: hz-tankfarm-01
//	    name: Tank farm 1
//	    sector: hazchem
//	    sensors:
//	      - id: GT-101
//	        kind: combustible_gas
//	        unit: "%LEL"     # optional: the kind's unit or one of its others (tank_level: m or %)
//	        gateway: gw-01
//	        sparkplug: gas-skid-1/Gas/GT-101  # optional Sparkplug {device_id}/{metric}
//	        location: tank T-1 north
//	        role: ""         # optional location role, e.g. coal T1
//	        setpoints:       # optional; replace all of the kind's defaults
//	          - {level: 2, direction: above, value: 25, clear: 23, source: "site design doc"}
//
// Site, sensor and gateway ids are letters, digits, '-', '_' and '.'.
// Levels are 1-4 or colour names, directions above or below (the default).
// A setpoint without clear restores at its value less the kind's deadband.
// Unknown keys are errors, so a misspelt optional key is not silently lost.
// Aliases are errors too: through one, a mistake in the anchored block
// would be reported at the anchor once for every use, and a few lines of
// nested aliases can expand to millions of sensors.
// Problems come back as a *LoadError; a read error is returned as is.
func LoadYAML(cat *Catalog, name string, r io.Reader) (*Registry, error) {
	// Reading everything first keeps read errors apart from syntax errors:
	// the YAML parser would report both the same way.
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if reg, ok := loadYAMLBySite(cat, name, data); ok {
		return reg, nil
	}
	return loadYAMLWhole(cat, name, data)
}

// loadYAMLWhole decodes a registry file as one document.
func loadYAMLWhole(cat *Catalog, name string, data []byte) (*Registry, error) {
	l := newLoader(cat, name)
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	switch err := dec.Decode(&doc); {
	case err != nil && !errors.Is(err, io.EOF):
		l.yamlError(err)
	case len(doc.Content) == 0:
		l.addf(1, "empty file: want a mapping with a sites list")
	default:
		var next yaml.Node
		switch err := dec.Decode(&next); {
		case err == nil:
			l.addf(next.Line, "a second YAML document: a registry file holds one")
		case !errors.Is(err, io.EOF):
			l.yamlError(err)
		}
		l.yamlFile(doc.Content[0])
	}
	return l.finish()
}

// loadYAMLBySite loads a registry file of the shape WriteYAML writes and
// most fleet files have, one site after another in a block list under a
// sites key, by decoding it one site at a time. yaml.v3 builds a node for
// every key and value before anything is read from them; for a whole file
// of 20,000 sensors that tree and the parser's garbage were over 150 MB
// of heap, the process's peak memory for the rest of its life, where one
// site's tree is a few hundred kilobytes. It reports false, having loaded
// nothing, for a file of any other shape and for one with any problem at
// all, which is then decoded whole, so that every file reads and every
// problem is reported as one decoding of the whole file gives them.
func loadYAMLBySite(cat *Catalog, name string, data []byte) (*Registry, bool) {
	// The header and the comments between items are never decoded here,
	// but the YAML reader refuses bad UTF-8 and control characters anywhere
	// in a file; such a file goes to the whole decoding, which says so.
	if !plainText(data) {
		return nil, false
	}
	items, ok := splitSites(data)
	if !ok {
		return nil, false
	}
	l := newLoader(cat, name)
	for _, it := range items {
		var doc yaml.Node
		dec := yaml.NewDecoder(bytes.NewReader(data[it.start:it.end]))
		if err := dec.Decode(&doc); err != nil {
			return nil, false
		}
		var next yaml.Node
		if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
			return nil, false
		}
		// One item of the sites list, or the split misread the file.
		if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.SequenceNode || len(doc.Content[0].Content) != 1 {
			return nil, false
		}
		// The nodes' lines count from the item's first, not the file's:
		// they only serve problems, and a file with one is decoded again
		// whole.
		l.yamlSite(doc.Content[0].Content[0])
		if len(l.problems) > 0 {
			return nil, false
		}
	}
	reg, err := l.finish()
	return reg, err == nil
}

// plainText reports whether data is UTF-8 of only the characters the
// YAML reader accepts, and breaks lines only with '\n' and '\r', the
// only breaks splitSites knows: YAML also breaks lines at U+0085, U+2028
// and U+2029.
func plainText(data []byte) bool {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		i += n
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			return false
		case r == 0x2028 || r == 0x2029:
			return false
		case r > 0xfffd && r < 0x10000:
			return false
		}
	}
	return true
}

// siteText is one item of a registry file's sites list: its bytes,
// data[start:end], and the line of the file it starts at.
type siteText struct {
	start, end, line int
}

// splitSites cuts a registry file into the items of its sites list. It
// takes only this shape: blank and comment lines, "sites:" at the start
// of a line, then the list in block style, every item starting with "-"
// at one indent and every other line of an item indented further (or a
// comment). Within an item nothing can start a line at the items' indent
// with "-" but the next item: a block scalar's or a nested list's lines
// are indented further, and a quoted or flow value cut there would leave
// an item that does not decode, which sends the file to the whole-file
// decoding. Anything else (tabs in the indent, other keys, document
// markers, directives, a flow list) reports false.
func splitSites(data []byte) ([]siteText, bool) {
	var items []siteText
	indent, header := -1, true
	lineNo := 0
	for off := 0; off < len(data); {
		end := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			end = off + i + 1
		}
		lineNo++
		line := bytes.TrimRight(data[off:end], "\r\n")
		text := bytes.TrimLeft(line, " ")
		ind := len(line) - len(text)
		switch {
		case bytes.HasPrefix(text, []byte("\t")):
			return nil, false
		case len(bytes.TrimSpace(text)) == 0 || text[0] == '#':
			if len(items) > 0 {
				items[len(items)-1].end = end
			}
		case header:
			if ind != 0 || !sitesKey(text) {
				return nil, false
			}
			header = false
		case indent < 0 || ind == indent:
			if !bytes.Equal(text, []byte("-")) && !bytes.HasPrefix(text, []byte("- ")) {
				return nil, false
			}
			indent = ind
			items = append(items, siteText{start: off, end: end, line: lineNo})
		case ind > indent:
			items[len(items)-1].end = end
		default:
			return nil, false
		}
		off = end
	}
	return items, len(items) > 0
}

// sitesKey reports whether a line is the key "sites:" alone, or with a
// comment after it.
func sitesKey(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("sites:"))
	if !ok {
		return false
	}
	trimmed := bytes.TrimLeft(rest, " ")
	// A comment needs a space before it: "sites:#x" is a key of its own.
	return len(trimmed) == 0 || (trimmed[0] == '#' && len(trimmed) < len(rest))
}

// yamlError turns a YAML syntax error into a problem.
func (l *loader) yamlError(err error) {
	line, msg := yamlpos.ErrorLine(err)
	l.addf(line, "%s", msg)
}

func (l *loader) yamlFile(root *yaml.Node) {
	f, ok := l.fields(root, "file", "sites")
	if !ok {
		return
	}
	if f.get("sites") == nil {
		l.addf(root.Line, "missing sites")
		return
	}
	for _, n := range l.list(f, "sites") {
		l.yamlSite(n)
	}
}

func (l *loader) yamlSite(n *yaml.Node) {
	f, ok := l.fields(n, "site", "id", "name", "sector", "guidance", "sensors")
	if !ok {
		return
	}
	var site Site
	if s, ok := l.str(f, "id"); ok {
		site.ID = s
		l.ident(f.at("id"), "site id", s)
	}
	if s, ok := l.str(f, "name"); ok {
		site.Name = s
		l.text(f.at("name"), "site name", s)
	}
	if s, ok := l.str(f, "sector"); ok {
		site.Sector = l.sector(f.at("sector"), s)
	}
	site.Guidance = l.yamlGuidance(f.get("guidance"))
	added := l.addSite(f.at("id"), site)
	for _, sn := range l.list(f, "sensors") {
		// The sensors of a duplicate site are still checked, but not
		// registered, or each would be reported as a duplicate too.
		s, ok := l.yamlSensor(sn)
		if ok && added {
			s.Site = site.ID
			l.addSensor(sn.Line, s)
		}
	}
}

func (l *loader) yamlSensor(n *yaml.Node) (Sensor, bool) {
	f, ok := l.fields(n, "sensor", "id", "kind", "unit", "gateway", "sparkplug", "location", "role", "setpoints")
	if !ok {
		return Sensor{}, false
	}
	var s Sensor
	if v, ok := l.str(f, "id"); ok {
		s.ID = v
		l.ident(f.at("id"), "sensor id", v)
	}
	if v, ok := l.str(f, "gateway"); ok {
		s.Gateway = v
		l.ident(f.at("gateway"), "gateway", v)
	}
	if v, ok := l.str(f, "sparkplug"); ok && v != "" {
		s.Sparkplug = v
		l.sparkplug(f.at("sparkplug"), v)
	}
	if v, ok := l.str(f, "location"); ok {
		s.Location = v
		l.text(f.at("location"), "location", v)
	}
	if v, ok := l.str(f, "role"); ok {
		s.Role = v
		l.text(f.at("role"), "role", v)
	}
	var k *Kind
	if v, ok := l.str(f, "kind"); ok {
		s.Kind = KindID(v)
		k = l.kind(f.at("kind"), v)
	}
	if v, ok := l.str(f, "unit"); ok {
		if ku := l.unit(f.at("unit"), k, v); ku != k {
			s.Unit, k = v, ku
		}
	}
	var lines []int
	for _, sn := range l.list(f, "setpoints") {
		if sp, ok := l.yamlSetpoint(k, sn); ok {
			s.Setpoints = append(s.Setpoints, sp)
			lines = append(lines, sn.Line)
		}
	}
	l.setpoints(s.Setpoints, lines)
	return s, true
}

// yamlSetpoint reads one setpoint, checking its values against k when the
// kind is known. It reports false when the setpoint is unusable.
func (l *loader) yamlSetpoint(k *Kind, n *yaml.Node) (Setpoint, bool) {
	f, ok := l.fields(n, "setpoint", "level", "direction", "value", "clear", "source")
	if !ok {
		return Setpoint{}, false
	}
	var sp Setpoint
	good := true
	switch v, ok := l.str(f, "level"); {
	case !ok:
		good = false
	case v == "":
		l.addf(f.at("level"), "missing level")
		good = false
	default:
		lv, err := ParseLevel(v)
		if err != nil {
			l.addf(f.at("level"), "%v", err)
			good = false
		}
		sp.Level = lv
	}
	if v, ok := l.str(f, "direction"); !ok {
		good = false
	} else if sp.Direction, ok = l.direction(f.at("direction"), v); !ok {
		good = false
	}
	switch v, ok := l.str(f, "value"); {
	case !ok:
		good = false
	case v == "":
		l.addf(f.at("value"), "missing value")
		good = false
	default:
		if sp.Value, ok = l.number(f.at("value"), "value", v); ok {
			l.inRange(f.at("value"), k, "value", sp.Value)
		}
		good = good && ok
	}
	if v, ok := l.str(f, "clear"); !ok {
		good = false
	} else if v != "" {
		// Zero is the default and asks for the deadband, so it needs no
		// range of its own.
		if sp.Clear, ok = l.number(f.at("clear"), "clear", v); ok && sp.Clear != 0 {
			l.inRange(f.at("clear"), k, "clear", sp.Clear)
		}
		good = good && ok
	}
	if v, ok := l.str(f, "source"); ok {
		sp.Source = v
		l.text(f.at("source"), "source", v)
	}
	return sp, good
}

// yamlMap is a mapping's keys and values, alternating as in a mapping
// node's Content, without the keys refused. A slice searched in order, not
// a map: a mapping here has at most eight keys, and a map for every sensor
// and setpoint of a large file was a tenth of what loading it allocated.
type yamlMap struct {
	kv   []*yaml.Node
	line int // the mapping's own, for keys it lacks
}

// get is the value of key, nil when absent.
func (m yamlMap) get(key string) *yaml.Node {
	for i := 0; i+1 < len(m.kv); i += 2 {
		if m.kv[i].Value == key {
			return m.kv[i+1]
		}
	}
	return nil
}

// at is the line of key's value, or of the mapping when key is absent.
func (m yamlMap) at(key string) int {
	if n := m.get(key); n != nil {
		return n.Line
	}
	return m.line
}

// fields checks that n is a mapping whose keys are all allowed and given
// once, and returns its values by key. It reports false when n is not a
// mapping.
func (l *loader) fields(n *yaml.Node, what string, allowed ...string) (yamlMap, bool) {
	if n.Kind != yaml.MappingNode {
		l.addf(n.Line, "%s: want a mapping, got %s", what, DescribeNode(n))
		return yamlMap{}, false
	}
	// The mapping's own Content serves as long as every key is kept; a
	// copy is made at the first one refused.
	out := yamlMap{kv: n.Content[:0], line: n.Line}
	kept := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ok := false
		switch {
		case k.Kind != yaml.ScalarNode:
			l.addf(k.Line, "%s: want a plain key, got %s", what, DescribeNode(k))
		case !slices.Contains(allowed, k.Value):
			l.addf(k.Line, "%s: unknown key %q (want %s)", what, k.Value, strings.Join(allowed, ", "))
		case out.get(k.Value) != nil:
			l.addf(k.Line, "%s: key %q given twice", what, k.Value)
		default:
			ok = true
		}
		switch {
		case ok && kept:
			out.kv = n.Content[:i+2]
		case ok:
			out.kv = append(out.kv, k, v)
		case kept:
			out.kv = slices.Clone(out.kv)
			kept = false
		}
	}
	return out, true
}

// list returns the items of the sequence under key; nil for an absent or
// null one.
func (l *loader) list(m yamlMap, key string) []*yaml.Node {
	n := m.get(key)
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.addf(n.Line, "%s: want a list, got %s", key, DescribeNode(n))
		return nil
	}
	return n.Content
}

// str returns the text of the scalar under key as written, so that ids
// such as 0101 keep their leading zero; "" for an absent or null one. It
// reports false, having said why, when the value is not a scalar: the
// caller then skips its checks rather than also call the value missing.
func (l *loader) str(m yamlMap, key string) (string, bool) {
	n := m.get(key)
	if n == nil {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		l.addf(n.Line, "%s: want a single value, got %s", key, DescribeNode(n))
		return "", false
	}
	if n.ShortTag() == "!!null" {
		return "", true
	}
	return n.Value, true
}

// DescribeNode says what a YAML node is, for a problem about a value of
// the wrong shape: "a mapping", "a list", the quoted scalar, or an alias
// with the reason it is refused.
func DescribeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return fmt.Sprintf("alias *%s (aliases are not supported: write the value out)", n.Value)
	}
	return "nothing"
}

// WriteYAMLFile writes the registry to the file at path, as WriteYAML
// does, for a 'serve' started from the same fleet to load.
func (r *Registry) WriteYAMLFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := r.WriteYAML(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteYAML writes the registry in the format LoadYAML reads: sites by
// id, each with its sensors in registration order. Setpoints are written
// with their resolved restore values, so that any registry the loaders
// accept loads back the same.
func (r *Registry) WriteYAML(w io.Writer) error {
	bySite := make(map[string][]*Sensor, len(r.sites))
	for _, s := range r.order {
		bySite[s.Site] = append(bySite[s.Site], s)
	}
	sites := r.Sites()
	if len(sites) == 0 {
		_, err := io.WriteString(w, "sites: []\n")
		return err
	}
	// The YAML encoder holds every event of a document until it ends,
	// which for a simulated fleet of 100 000 sensors is most of a
	// gigabyte. Each site and each sensor is therefore encoded on its
	// own, as a one-item list, and indented into place.
	// bufio.Writer keeps the first write error for Flush to return.
	bw := bufio.NewWriter(w)
	bw.WriteString("sites:\n")
	for _, site := range sites {
		m := mapNode(strNode("id"), strNode(site.ID))
		if site.Name != "" {
			m.Content = append(m.Content, strNode("name"), strNode(site.Name))
		}
		m.Content = append(m.Content, strNode("sector"), strNode(string(site.Sector)))
		if g := guidanceNode(site.Guidance); g != nil {
			m.Content = append(m.Content, strNode("guidance"), g)
		}
		if err := writeItem(bw, "  ", m); err != nil {
			return err
		}
		if len(bySite[site.ID]) > 0 {
			bw.WriteString("    sensors:\n")
		}
		for _, s := range bySite[site.ID] {
			if err := writeItem(bw, "      ", sensorNode(s)); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// writeItem writes n as an item of a block list indented by indent.
// Indenting every line of a block alike keeps its meaning, block scalars
// included.
func writeItem(w *bufio.Writer, indent string, n *yaml.Node) error {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{n}}); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	for line := range bytes.Lines(buf.Bytes()) {
		if len(line) > 1 {
			w.WriteString(indent)
		}
		w.Write(line)
	}
	return nil
}

func sensorNode(s *Sensor) *yaml.Node {
	m := mapNode(strNode("id"), strNode(s.ID), strNode("kind"), strNode(string(s.Kind)),
		strNode("unit"), strNode(s.kind.Unit), strNode("gateway"), strNode(s.Gateway))
	if s.Sparkplug != "" {
		m.Content = append(m.Content, strNode("sparkplug"), strNode(s.Sparkplug))
	}
	if s.Location != "" {
		m.Content = append(m.Content, strNode("location"), strNode(s.Location))
	}
	if s.Role != "" {
		m.Content = append(m.Content, strNode("role"), strNode(s.Role))
	}
	if len(s.Setpoints) > 0 {
		list := &yaml.Node{Kind: yaml.SequenceNode}
		for _, sp := range s.Setpoints {
			spm := mapNode(strNode("level"), numNode(float64(sp.Level)), strNode("direction"), strNode(sp.Direction.String()),
				strNode("value"), numNode(sp.Value), strNode("clear"), numNode(sp.Clear))
			if sp.Source != "" {
				spm.Content = append(spm.Content, strNode("source"), strNode(sp.Source))
			}
			// One setpoint a line reads like the table it came from.
			spm.Style = yaml.FlowStyle
			list.Content = append(list.Content, spm)
		}
		m.Content = append(m.Content, strNode("setpoints"), list)
	}
	return m
}

// mapNode builds a mapping node from alternating keys and values.
func mapNode(kv ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Content: kv}
}

// strNode is a string scalar; the encoder quotes it where it would otherwise
// read back as a number or boolean.
func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// numNode is a number scalar, in the shortest form that reads back exactly.
// It has no tag so that 25 is written plain and not as "!!float 25".
func numNode(v float64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(v, 'g', -1, 64)}
}
