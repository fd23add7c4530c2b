package yamlpos

import (
	"errors"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Doc is a parsed YAML document and the file it came from, for finding
// where keys are written.
type Doc struct {
	file string
	root *yaml.Node // the document's top node; nil for an empty file
}

// NewDoc wraps a node decoded from file: a document node or the top node
// itself.
func NewDoc(file string, n *yaml.Node) *Doc {
	if n != nil && n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			n = nil
		} else {
			n = n.Content[0]
		}
	}
	return &Doc{file: file, root: n}
}

// File is the name problems carry.
func (d *Doc) File() string { return d.file }

// Locate is where key is written: "a.b[2].c" goes through the mapping
// key a, its key b, the third item of that list and its key c. A key
// written in the file is found at its own line and column (a list item at
// the item's); one that is not (a default left unset) at the nearest
// enclosing key that is; nothing of it written, the file alone.
func (d *Doc) Locate(key string) Pos {
	if d == nil {
		return Pos{}
	}
	at := Pos{File: d.file}
	if d.root == nil || key == "" {
		return at
	}
	n := d.root
	for _, step := range SplitKey(key) {
		next, where := child(n, step)
		if next == nil {
			break
		}
		n, at.Line, at.Column = next, where.Line, where.Column
	}
	return at
}

// Problem is msg about key, at the place Locate finds.
func (d *Doc) Problem(key, msg string) Problem {
	at := d.Locate(key)
	return Problem{Key: key, File: at.File, Line: at.Line, Column: at.Column, Msg: msg}
}

// SplitKey splits "a.b[2].c" into "a", "b", "[2]", "c".
func SplitKey(key string) []string {
	var out []string
	for _, part := range strings.Split(key, ".") {
		name, idx, _ := strings.Cut(part, "[")
		if name != "" {
			out = append(out, name)
		}
		for idx != "" {
			var i string
			i, idx, _ = strings.Cut(idx, "]")
			out = append(out, "["+i+"]")
			idx = strings.TrimPrefix(idx, "[")
		}
	}
	return out
}

// child is the value under a mapping key or at a list index, with the
// node to report: the key for a mapping, the item for a list.
func child(n *yaml.Node, step string) (value, at *yaml.Node) {
	if idx, ok := strings.CutPrefix(step, "["); ok {
		i, err := strconv.Atoi(strings.TrimSuffix(idx, "]"))
		if n.Kind != yaml.SequenceNode || err != nil || i < 0 || i >= len(n.Content) {
			return nil, nil
		}
		return n.Content[i], n.Content[i]
	}
	k, v := MapValue(n, step)
	return v, k
}

// MapValue is the key node and the value node of key in mapping m; nils
// when m is not a mapping or lacks the key.
func MapValue(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// ErrorLine splits an error of the YAML library ("yaml: line 12: did
// not find expected key") into its line and message, so the problem
// reads like every other one of the file. Line is 0 when the error names
// none. The library gives its positions only inside the text, so this is
// the one place that reads them from there.
func ErrorLine(err error) (line int, msg string) {
	return splitLine(err.Error())
}

func splitLine(s string) (int, string) {
	msg := strings.TrimSpace(strings.TrimPrefix(s, "yaml: "))
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				return n, text
			}
		}
	}
	return 0, msg
}

// DecodeProblems turns an error of decoding file (a syntax error, or a
// *yaml.TypeError holding one "line N: …" per field) into one problem
// per line of it.
func DecodeProblems(file string, err error) []Problem {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	out := make([]Problem, 0, len(msgs))
	for _, m := range msgs {
		line, text := splitLine(m)
		out = append(out, Problem{File: file, Line: line, Msg: text})
	}
	return out
}
