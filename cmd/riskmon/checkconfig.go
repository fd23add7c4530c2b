package main

import (
	"fmt"
	"io"

	"github.com/riskmon/riskmon/internal/app/configcheck"
)

// writeReport prints a check's problems, then its warnings, one a line:
// "file:line:column: message" where the place is known.
func writeReport(w io.Writer, r *configcheck.Report) {
	for _, p := range r.Problems {
		fmt.Fprintln(w, p)
	}
	for _, p := range r.Warnings {
		p.Msg = "warning: " + p.Msg
		fmt.Fprintln(w, p)
	}
}
