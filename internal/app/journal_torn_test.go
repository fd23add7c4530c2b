package app

import (
	"os"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/console"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/journal"
	"github.com/riskmon/riskmon/sensors"
)

// TestJournalTornTailAlerts: a journal whose last record was cut (riskmon
// killed, or the disk full, mid-write) raises a yellow journal_torn_tail
// alert at the next start, on the console in Chinese too; a clean start
// raises none.
func TestJournalTornTailAlerts(t *testing.T) {
	dir := t.TempDir()
	inDir := func(c *config.Config) { c.StateDir = dir }

	svc := quietService(t, inDir)
	if svc.conditions.IsOpen(alerting.RuleJournalTorn, systemSite, "journal") {
		t.Fatal("a first start raised journal_torn_tail")
	}
	svc.journal.Action(time.Time{}, map[string]string{"action": "note", "text": "before the cut"})
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := journal.Segments(svc.cfg.StatePath(svc.cfg.Journal.Dir))
	if err != nil || len(segs) == 0 {
		t.Fatalf("segments %v: %v", segs, err)
	}
	f, err := os.OpenFile(segs[len(segs)-1], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"seq":99,"kind":"alert","at":"2026-`); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	svc = quietService(t, inDir)
	if !svc.conditions.IsOpen(alerting.RuleJournalTorn, systemSite, "journal") {
		t.Fatal("no journal_torn_tail alert after starting on a torn journal")
	}
	var found bool
	for _, r := range svc.lifecycle.Open() {
		if r.Rule == alerting.RuleJournalTorn {
			found = r.Level == sensors.LevelYellow && r.Value == 1
		}
	}
	if !found {
		t.Errorf("journal_torn_tail not open at yellow with one tail: %+v", svc.lifecycle.Open())
	}
	board, _ := svc.hub.Alerts(console.AlertFilter{Rule: alerting.RuleJournalTorn}, 0, 0)
	if len(board) != 1 || board[0].Text.ZH.What != "操作记录末尾残缺（启动时发现）" || board[0].Text.ZH.Procedure == "" {
		t.Errorf("journal_torn_tail not on the board in Chinese: %+v", board)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}

	// A clean start raises no new one (the open alert is restored and
	// expires an hour after it was raised).
	svc = quietService(t, inDir)
	if n := len(svc.journal.TornAtOpen()); n != 0 {
		t.Errorf("a clean start found %d torn tails", n)
	}
}
