package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/internal/testenv"
	"github.com/riskmon/riskmon/sensors"
)

// TestJournalFullDiskAlerts: with the journal on a full filesystem an
// alarm is still raised, and an orange journal_write_failed alert says
// its record is missing; once the disk has room the alert clears.
func TestJournalFullDiskAlerts(t *testing.T) {
	small := testenv.SmallFS(t, 64<<10)
	svc := quietService(t, func(c *config.Config) { c.Journal.Dir = filepath.Join(small, "journal") })

	filler := filepath.Join(small, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := f.Write(make([]byte, 512)); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	_ = f.Close()

	// The segment's last page may still have room; fill it.
	for i := 0; svc.journal.Lost() == 0 && i < 100; i++ {
		svc.journal.Action(time.Time{}, map[string]string{"action": "note", "text": string(make([]byte, 200))})
	}
	before := svc.journal.Failures()
	t0 := time.Now()
	svc.engine.Evaluate(sensors.Reading{Site: "hz-01", Sensor: "GT-101", Kind: "combustible_gas", Value: 60, Time: t0, Received: t0})
	if svc.journal.Lost() == 0 || svc.journal.Failures() == before {
		t.Fatalf("the alarm's journal record was written on a full filesystem (lost %d, failures %d then %d)", svc.journal.Lost(), before, svc.journal.Failures())
	}
	svc.Tick(t0)
	if !svc.conditions.IsOpen(alerting.RuleJournalFailed, systemSite, "journal") {
		t.Fatal("no journal_write_failed alert while records cannot be written")
	}
	var gas, journalAlert bool
	for _, r := range svc.lifecycle.Open() {
		gas = gas || (r.Sensor == "GT-101" && r.Level == sensors.LevelRed)
		journalAlert = journalAlert || (r.Rule == alerting.RuleJournalFailed && r.Level == sensors.LevelOrange)
	}
	if !gas || !journalAlert {
		t.Fatalf("open alerts: gas red %v, journal orange %v", gas, journalAlert)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	svc.journal.Action(time.Time{}, map[string]string{"action": "ack", "user": "wang"})
	svc.Tick(t0.Add(time.Second))
	if svc.conditions.IsOpen(alerting.RuleJournalFailed, systemSite, "journal") {
		t.Fatal("journal alert still open once the journal writes again")
	}
	fmt.Println("journal full disk: alarm raised, journal_write_failed raised and cleared")
}
