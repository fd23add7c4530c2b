package notify

import (
	"context"
	"log/slog"

	"github.com/riskmon/riskmon/alerting"
)

// LogNotifier writes one log line per event: warn for fired and escalated,
// info for de-escalated and resolved.
type LogNotifier struct {
	log *slog.Logger
}

// NewLogNotifier logs to l; a nil l means slog.Default().
func NewLogNotifier(l *slog.Logger) *LogNotifier {
	if l == nil {
		l = slog.Default()
	}
	return &LogNotifier{log: l}
}

// Name returns "log".
func (n *LogNotifier) Name() string { return "log" }

// Notify logs the event; it never fails.
func (n *LogNotifier) Notify(ctx context.Context, ev alerting.Event) error {
	lvl := slog.LevelInfo
	if ev.Type == alerting.EventFired || ev.Type == alerting.EventEscalated {
		lvl = slog.LevelWarn
	}
	n.log.LogAttrs(ctx, lvl, ev.Message,
		slog.String("event", ev.Type.String()),
		slog.String("alert_id", ev.AlertID),
		slog.String("rule", ev.Rule),
		slog.String("site", ev.Site),
		slog.String("sensor", ev.Sensor),
		slog.Int("level", int(ev.Level)),
		slog.Int("prev_level", int(ev.PrevLevel)),
		slog.Float64("value", ev.Value),
		slog.Float64("setpoint", ev.Setpoint),
		slog.Time("at", ev.At),
		slog.Time("starts_at", ev.StartsAt))
	return nil
}
