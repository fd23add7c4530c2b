package replay

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/riskmon/riskmon/alerting"
)

// WriteTable prints the alerts in the order they fired, then the
// summary line.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tSITE\tSENSOR\tLEVEL\tFIRED AT\tRESOLVED AT\tPEAK")
	for _, a := range r.Alerts {
		resolved := "(open)"
		if !a.Open() {
			resolved = a.ResolvedAt.UTC().Format(time.RFC3339)
		}
		peak := strconv.FormatFloat(a.Peak, 'g', 6, 64)
		if a.Unit != "" && a.Rule != alerting.RuleGroupVote { // a vote is a count of members
			peak += " " + a.Unit
		}
		if a.Rule == alerting.RuleSensorStale {
			peak = "-" // silence has no value
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Rule, a.Site, a.Sensor, a.Level, a.FiredAt.UTC().Format(time.RFC3339), resolved, peak)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}

// WriteJSON prints the result as one JSON document with the summary
// line under "summary".
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		*Result
		Summary string `json:"summary"`
	}{r, r.Summary()})
}
