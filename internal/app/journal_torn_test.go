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

	svc, cfg := quietServiceConfig(t, inDir)
	if conditionOpen(svc, alerting.RuleJournalTorn, systemSite, "journal") {
		t.Fatal("a first start raised journal_torn_tail")
	}
	// An alarm, journaled before the cut.
	t0 := time.Now()
	svc.Evaluate([]sensors.Reading{{Site: "hz-01", Sensor: "GT-101", Kind: "combustible_gas", Value: 30, Time: t0, Received: t0}})
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := journal.Segments(cfg.StatePath(cfg.Journal.Dir))
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
	if !conditionOpen(svc, alerting.RuleJournalTorn, systemSite, "journal") {
		t.Fatal("no journal_torn_tail alert after starting on a torn journal")
	}
	if n := scrape(t, svc, "riskmon_journal_torn_tails_total"); n != 1 {
		t.Errorf("%v torn tails counted, want 1", n)
	}
	var found bool
	open := worklist(t, svc, "")
	for _, r := range open {
		if r.Rule == alerting.RuleJournalTorn {
			found = r.Level == sensors.LevelYellow && r.Value == 1
		}
	}
	if !found {
		t.Errorf("journal_torn_tail not open at yellow with one tail: %+v", open)
	}
	var page struct{ Alerts []console.Alert }
	getJSON(t, svc, "/api/v1/alerts?rule="+alerting.RuleJournalTorn, "", &page)
	board := page.Alerts
	if len(board) != 1 || board[0].Text.ZH.What != "操作记录末尾残缺（启动时发现）" || board[0].Text.ZH.Procedure == "" {
		t.Errorf("journal_torn_tail not on the board in Chinese: %+v", board)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}

	// A clean start raises no new one (the open alert is restored and
	// expires an hour after it was raised).
	svc = quietService(t, inDir)
	if n := scrape(t, svc, "riskmon_journal_torn_tails_total"); n != 0 {
		t.Errorf("a clean start found %v torn tails", n)
	}
}
