package replay

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riskmon/riskmon/alerting"
)

// WriteTable prints the alerts in the order they fired, then the
// summary line.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tSITE\tSENSOR\tLEVEL\tFIRED AT\tRESOLVED AT\tPEAK\tLEVEL CHANGES")
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
		var changes []string
		for _, c := range a.Levels[min(1, len(a.Levels)):] {
			changes = append(changes, c.Level.String()+" "+c.At.UTC().Format(time.TimeOnly))
		}
		if a.Flapping {
			changes = append(changes, "(held: flapping)")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Rule, a.Site, a.Sensor, a.Level, a.FiredAt.UTC().Format(time.RFC3339), resolved, peak,
			strings.Join(changes, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}

// WriteEvents prints the alert event stream, one event a line, as the
// service would have passed it on, then the summary line.
func (r *Result) WriteEvents(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tEVENT\tLEVEL\tRULE\tSITE\tSENSOR\tALERT\tMESSAGE")
	for _, ev := range r.Events {
		typ := ev.Type.String()
		if ev.Flapping {
			typ += " (held)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.At.UTC().Format(time.RFC3339), typ, ev.Level, ev.Rule, ev.Site, ev.Sensor, ev.AlertID, ev.Message)
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
