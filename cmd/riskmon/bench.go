package main

import "github.com/spf13/cobra"

func newBench(g *globals) *cobra.Command {
	return &cobra.Command{Use: "bench", Short: "End-to-end load benchmark", RunE: func(*cobra.Command, []string) error { return nil }}
}
