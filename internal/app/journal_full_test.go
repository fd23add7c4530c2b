package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
	svc := quietService(t, func(c *config.Config) {
		c.Journal.Dir = filepath.Join(small, "journal")
		c.HTTP.Tokens = []config.Token{{Name: "wang", Token: "op-token", Role: "operator"}}
	})
	h := svc.Handler()
	failures := func() float64 { return scrape(t, svc, "riskmon_journal_write_failures_total") }

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
	// The segment's last page may still have room; fill it with an
	// operator's journaled actions: shelving the detector and ending the
	// shelf at once.
	reason := strings.Repeat("x", 200)
	for i := 0; failures() == 0 && i < 100; i++ {
		rec := call(h, http.MethodPost, "/api/v1/shelves", "op-token",
			`{"match":{"site":"hz-01","sensor":"GT-101","rule":"combustible_gas_high"},"reason":"`+reason+`","duration":"1h"}`)
		var sh struct{ ID string }
		if err := json.Unmarshal(rec.Body.Bytes(), &sh); err == nil && sh.ID != "" {
			call(h, http.MethodDelete, "/api/v1/shelves/"+sh.ID, "op-token", "")
		}
	}
	before := failures()
	t0 := time.Now()
	svc.Evaluate([]sensors.Reading{{Site: "hz-01", Sensor: "GT-101", Kind: "combustible_gas", Value: 60, Time: t0, Received: t0}})
	if before == 0 || failures() == before {
		t.Fatalf("the alarm's journal record was written on a full filesystem (failures %v then %v)", before, failures())
	}
	svc.Tick(t0)
	if !conditionOpen(svc, alerting.RuleJournalFailed, systemSite, "journal") {
		t.Fatal("no journal_write_failed alert while records cannot be written")
	}
	var gas, journalAlert bool
	var gasID string
	for _, r := range worklist(t, svc, "op-token") {
		if r.Sensor == "GT-101" && r.Level == sensors.LevelRed {
			gas, gasID = true, r.ID
		}
		journalAlert = journalAlert || (r.Rule == alerting.RuleJournalFailed && r.Level == sensors.LevelOrange)
	}
	if !gas || !journalAlert {
		t.Fatalf("open alerts: gas red %v, journal orange %v", gas, journalAlert)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// The operator's acknowledgement is journaled again.
	if rec := call(h, http.MethodPost, "/api/v1/alerts/"+gasID+"/ack", "op-token", `{"comment":"disk cleared"}`); rec.Code != http.StatusOK {
		t.Fatalf("ack: %d %s", rec.Code, rec.Body)
	}
	svc.Tick(t0.Add(time.Second))
	if conditionOpen(svc, alerting.RuleJournalFailed, systemSite, "journal") {
		t.Fatal("journal alert still open once the journal writes again")
	}
	fmt.Println("journal full disk: alarm raised, journal_write_failed raised and cleared")
}
