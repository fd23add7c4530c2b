package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/riskmon/riskmon/journal"
	"github.com/spf13/cobra"
)

func newJournal() *cobra.Command {
	j := &cobra.Command{Use: "journal", Short: "Check and export the tamper-evident alarm and operator journal"}
	j.AddCommand(&cobra.Command{
		Use:   "verify FILE|DIR",
		Short: "Verify the journal's hash chain and report the first bad line",
		Long: `verify recomputes every record's SHA-256 and checks that each record names
the hash of the one before it, across segment files when given the journal
directory (state_dir/journal by default). An edited, inserted, deleted or
reordered record, or a line cut short, is reported as FILE:LINE and the
command exits non-zero. Records removed from the end of the newest segment
cannot be told from records never written; compare the head hash printed
here with one kept elsewhere (riskmon logs it at every segment start and at
shutdown).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sum, err := journal.Verify(args[0])
			if p, ok := errors.AsType[*journal.Problem](err); ok {
				return fmt.Errorf("journal does not verify: %w", p)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "ok: %d records in %d file(s), seq %d to %d, %s to %s\n", sum.Records, sum.Files, sum.First, sum.Last,
				sum.FirstAt.Format(time.RFC3339), sum.LastAtTime.Format(time.RFC3339))
			if sum.Anchor != "" {
				fmt.Fprintf(out, "chain starts from %s (last hash of records dropped by retention or before this excerpt)\n", sum.Anchor)
			}
			fmt.Fprintf(out, "head hash %s\n", sum.LastHash)
			return nil
		},
	})
	var since string
	export := &cobra.Command{
		Use:   "export FILE|DIR",
		Short: "Print the journal records at or after --since, as stored (they verify on their own)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t time.Time
			if since != "" {
				var err error
				if t, err = time.Parse(time.RFC3339, since); err != nil {
					return fmt.Errorf("--since: want an RFC 3339 time such as 2026-05-01T08:00:00Z: %w", err)
				}
			}
			out := cmd.OutOrStdout()
			return journal.Export(args[0], t, func(line []byte) error {
				_, err := out.Write(line)
				return err
			})
		},
	}
	export.Flags().StringVar(&since, "since", "", "first record time, RFC 3339 (default: everything)")
	j.AddCommand(export)
	return j
}
