package yamlpos

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong in a file. Key, Line and Column are zero
// when unknown; Msg reads on its own, the key included where it helps.
type Problem struct {
	// Key is the key path the problem is about, "mqtt.broker" or
	// "http.tokens[1]"; empty when it is about no key (a syntax error,
	// a row of a CSV file).
	Key  string
	File string
	// Line and Column are 1-based; 0 when the problem belongs to no line
	// (or no column).
	Line   int
	Column int
	Msg    string
}

// Pos is where the problem is: file:line:column, file:line or file.
func (p Problem) Pos() Pos { return Pos{File: p.File, Line: p.Line, Column: p.Column} }

// String formats the problem as file:line: message, the form editors and
// CI logs turn into links.
func (p Problem) String() string {
	if pos := p.Pos().String(); pos != "" {
		return pos + ": " + p.Msg
	}
	return p.Msg
}

// Error is String, so a Problem can travel as an error and be found
// again with errors.As.
func (p Problem) Error() string { return p.String() }

// LoadError lists every problem found in a file or a set of files. The
// loaders collect them all rather than stop at the first, so that a file
// is fixed in one pass.
type LoadError struct {
	Problems []Problem
}

// Error prints one problem a line.
func (e *LoadError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Pos is a place in a file.
type Pos struct {
	File         string
	Line, Column int // 1-based; 0 when unknown
}

// String is file:line:column, file:line or file, leaving out what is
// unknown.
func (p Pos) String() string {
	switch {
	case p.Line > 0 && p.Column > 0:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
	case p.Line > 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return p.File
}
