package notify

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/riskmon/riskmon/alerting"
)

func TestLogNotifier(t *testing.T) {
	tests := []struct {
		name  string
		typ   alerting.EventType
		level string
	}{
		{"fired warns", alerting.EventFired, "level=WARN"},
		{"escalated warns", alerting.EventEscalated, "level=WARN"},
		{"deescalated informs", alerting.EventDeescalated, "level=INFO"},
		{"resolved informs", alerting.EventResolved, "level=INFO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			n := NewLogNotifier(slog.New(slog.NewTextHandler(&buf, nil)))
			ev := firedEvent()
			ev.Type = tt.typ
			if err := n.Notify(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if strings.Count(out, "\n") != 1 {
				t.Fatalf("want one line, got %q", out)
			}
			for _, want := range []string{tt.level, `msg="combustible_gas GT-101 at hz-01: 27.3 %LEL >= 25 (level 2 orange)"`,
				"event=" + tt.typ.String(), "alert_id=ed7e423dfd78d663", "site=hz-01", "sensor=GT-101", "level=2", "value=27.3"} {
				if !strings.Contains(out, want) {
					t.Errorf("log line %q lacks %q", out, want)
				}
			}
		})
	}
}
