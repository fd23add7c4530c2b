package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/riskmon/riskmon/journal"
	"github.com/spf13/cobra"
)

func newJournal() *cobra.Command {
	j := &cobra.Command{Use: "journal", Short: "Check and export the tamper-evident alarm and operator journal"}
	var keyFile, expectHead string
	verify := &cobra.Command{
		Use:   "verify FILE|DIR",
		Short: "Verify the journal's hash chain and MACs and report the first bad line",
		Long: `verify recomputes every record's SHA-256 and checks that each record names
the hash of the one before it, across segment files when given the journal
directory (state_dir/journal by default). With the journal key (--key-file;
by default journal.key beside the journal directory, where riskmon keeps it)
it also checks every record's MAC, so an edited record whose later hashes
were recomputed is found: nobody without the key can seal them again. An
edited, inserted, deleted or reordered record, or a line cut in the middle
of the journal, is reported as FILE:LINE and the command exits non-zero.

A torn tail (the last line cut by a crash or a full disk) is not tampering:
riskmon declares it in the header of the segment it starts next, and verify
lists it. Records removed whole from the end leave a valid chain; give a
head kept elsewhere with --expect-head SEQ:HASH (riskmon logs it hourly, at
every segment start and at shutdown, and exports it as the metric
riskmon_journal_head_info) and verify fails unless that record is there.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return verifyJournal(cmd.OutOrStdout(), args[0], keyFile, expectHead)
		},
	}
	verify.Flags().StringVar(&keyFile, "key-file", "", "the journal key (default: journal.key beside the journal directory)")
	verify.Flags().StringVar(&expectHead, "expect-head", "", "a head published earlier, SEQ:HASH or HASH, that the journal must hold")
	j.AddCommand(verify)
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

// verifyJournal checks the journal at path (a segment file or the
// journal directory) with the key in keyFile, or the one riskmon keeps
// beside the journal directory, and prints what it found.
func verifyJournal(out io.Writer, path, keyFile, expectHead string) error {
	opts := journal.VerifyOptions{ExpectHead: expectHead}
	keyPath, explicit := keyFile, keyFile != ""
	if !explicit {
		keyPath = defaultKeyPath(path)
	}
	key, err := journal.LoadKey(keyPath, false)
	switch {
	case err == nil:
		opts.Key = key
	case explicit || !errors.Is(err, fs.ErrNotExist):
		return err
	default:
		fmt.Fprintf(out, "warning: no journal key at %s: MACs not checked, so an edit with recomputed hashes would pass; give --key-file\n", keyPath)
	}
	sum, err := journal.VerifyWith(path, opts)
	if p, ok := errors.AsType[*journal.Problem](err); ok {
		return fmt.Errorf("journal does not verify: %w", p)
	}
	if err != nil {
		return err
	}
	printVerified(out, sum, keyPath, expectHead)
	return nil
}

// defaultKeyPath is journal.key beside the journal directory, where
// riskmon keeps it, for a path naming the directory or a segment in it.
func defaultKeyPath(path string) string {
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		return filepath.Join(filepath.Dir(filepath.Dir(filepath.Clean(path))), "journal.key")
	}
	return filepath.Join(filepath.Dir(filepath.Clean(path)), "journal.key")
}

// printVerified prints the summary of a journal that verified.
func printVerified(out io.Writer, sum journal.Summary, keyPath, expectHead string) {
	fmt.Fprintf(out, "ok: %d records in %d file(s), seq %d to %d, %s to %s\n", sum.Records, sum.Files, sum.First, sum.Last,
		sum.FirstAt.Format(time.RFC3339), sum.LastAtTime.Format(time.RFC3339))
	if sum.MACs {
		fmt.Fprintf(out, "every record's MAC matches the key in %s\n", keyPath)
		if sum.Unkeyed > 0 {
			fmt.Fprintf(out, "except the first %d record(s), written before the journal had a key; the keyed records after them vouch for them\n", sum.Unkeyed)
		}
	}
	if sum.Anchor != "" {
		fmt.Fprintf(out, "chain starts from %s (last hash of records dropped by retention or before this excerpt)\n", sum.Anchor)
	}
	for _, t := range sum.Torn {
		fmt.Fprintf(out, "torn tail (crash or full disk, declared by the next segment): %s, %d bytes at offset %d\n", t.File, t.Bytes, t.Offset)
	}
	if t := sum.Pending; t != nil {
		fmt.Fprintf(out, "torn tail at the end of the newest segment (crash or full disk; riskmon declares it at its next start): %s, %d bytes at offset %d\n", t.File, t.Bytes, t.Offset)
	}
	if sum.Lost > 0 {
		fmt.Fprintf(out, "the journal records %d record(s) it could not write (full disk or I/O error)\n", sum.Lost)
	}
	if sum.HeadFound {
		fmt.Fprintf(out, "expected head %s found\n", expectHead)
	}
	fmt.Fprintf(out, "head %d:%s\n", sum.Last, sum.LastHash)
}
