// Command riskmon watches hazardous sites in real time: it takes sensor
// readings from gateways over MQTT, stores them in InfluxDB and raises
// alerts. Subcommands run the service, a self-contained demo, the fleet
// simulator and the load benchmark.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "riskmon:", err)
		os.Exit(1)
	}
}

type globals struct {
	logLevel string
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "riskmon",
		Short:         "Real-time risk monitoring and early warning for hazardous sites",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "", "log level: debug, info, warn or error (overrides the config file)")
	root.AddCommand(newServe(g), newDemo(g), newSim(g), newBench(g), newKinds(), newCheckConfig(), newRules(), newReplay(), newJournal(), newUser())
	return root
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// logLevel is --log-level, or def when it is not given.
func logLevel(g *globals, def string) string {
	if g.logLevel != "" {
		return g.logLevel
	}
	return def
}
