package faults

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/cluster"
	"github.com/riskmon/riskmon/console"
)

// TestClusterAlertFollowsSite: a gas alarm is open on the instance that
// owns its site, shown by the other instance too and acknowledged there,
// when the owner is killed with SIGKILL. The instance that takes the site over shows the same alert
// id, still acknowledged, and escalates it under that id when the gas
// rises further; across both instances the raise is paged once and the
// escalation once.
func TestClusterAlertFollowsSite(t *testing.T) {
	c := newClusterRig(t)
	reg, regFile := gasRegistry(t, c.dir, 4)
	c.reg, c.regFile = reg, regFile
	hook := newPager(t)
	withHook := func(conf map[string]any) {
		conf["http"].(map[string]any)["tokens"] = []any{map[string]any{"name": "li", "token": opsToken, "role": "operator"}}
		conf["alerting"] = map[string]any{"forecast": false, "repeat": map[string]any{},
			"flapping": map[string]any{"raises": 1_000_000},
			"notify": map[string]any{"log": false, "mqtt": false,
				"webhooks": []any{map[string]any{"url": hook.srv.URL, "timeout": "5s", "max_elapsed": "2m"}}}}
	}
	ids := []string{"rm-a", "rm-b"}
	procs := map[string]*riskmonProc{}
	for _, id := range ids {
		procs[id] = c.instanceWith(id, withHook)
		startInstance(t, procs[id])
	}
	c.waitBalanced(len(ids))
	p := cluster.PartitionOf(gasSite, clusterPartitions)
	owner := c.owner(p)
	gw := newGasGateway(t, c.nats.Nodes[0].MQTTURL(), reg)
	// Detector 0 at 27 %LEL (orange), the others clean.
	gas := func(high float64) func(int) float64 {
		return func(i int) float64 {
			if i == 0 {
				return high
			}
			return 3
		}
	}
	const tick = 200 * time.Millisecond
	var fired page
	deadline := time.Now().Add(20 * time.Second)
	for fired.ev.AlertID == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no fired page within 20 s: %s", describe(hook.all()))
		}
		gw.publish(time.Now(), gas(27))
		time.Sleep(tick)
		for _, pg := range hook.all() {
			if pg.ev.Type == alerting.EventFired {
				fired = pg
			}
		}
	}
	id := fired.ev.AlertID
	if a := getAlert(t, procs[owner], id); a.Level != fired.ev.Level {
		t.Fatalf("owner %s shows alert %s at %v, paged at %v", owner, id, a.Level, fired.ev.Level)
	}
	// The other instance shows the alert too, and an acknowledgement made
	// there reaches the owner.
	other := ids[0]
	if other == owner {
		other = ids[1]
	}
	waitUntilT(t, 5*time.Second, fmt.Sprintf("alert %s shown on %s", id, other), func() bool {
		_, ok := findAlert(procs[other], id)
		return ok
	})
	ackAlert(t, procs[other], id, "crew on the way")
	if a := getAlert(t, procs[owner], id); !a.Acknowledged || a.AckedBy != "li" {
		t.Fatalf("acknowledged on %s, the owner %s shows it acknowledged %v by %q", other, owner, a.Acknowledged, a.AckedBy)
	}

	// The owner dies once the acknowledgement is paged and the page's
	// claim marked sent. Killed in the few milliseconds between the
	// delivery and that mark, the next owner pages it again, with the
	// same idempotency key (docs/cluster.md#alert-state).
	hook.waitPages(10*time.Second, func(ps []page) bool {
		return slices.ContainsFunc(ps, func(pg page) bool { return pg.ev.Type == alerting.EventAcknowledged })
	})
	time.Sleep(500 * time.Millisecond)
	procs[owner].kill()
	killed := time.Now()
	var next string
	for deadline := killed.Add(takeoverLimit); next == "" || next == owner; {
		if time.Now().After(deadline) {
			t.Fatalf("partition %d of %s not taken over within %v", p, owner, takeoverLimit)
		}
		gw.publish(time.Now(), gas(27))
		time.Sleep(tick)
		next = c.owner(p)
	}
	// The new owner answers for the alert once it has taken the site up.
	var a console.Alert
	for deadline := time.Now().Add(takeoverLimit); ; {
		var ok bool
		if a, ok = findAlert(procs[next], id); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new owner %s does not show alert %s", next, id)
		}
		gw.publish(time.Now(), gas(27))
		time.Sleep(tick)
	}
	takeover := time.Since(killed)
	if !a.Acknowledged || a.AckedBy != "li" || a.Lifecycle != alerting.StateActiveAcked.String() {
		t.Errorf("on %s alert %s is %s, acknowledged %v by %q; want it still acknowledged by li", next, id, a.Lifecycle, a.Acknowledged, a.AckedBy)
	}
	// The gas rises: the new owner escalates the same alert.
	var escalated []page
	for deadline := time.Now().Add(20 * time.Second); len(escalated) == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no escalation paged within 20 s: %s", describe(hook.all()))
		}
		gw.publish(time.Now(), gas(60))
		time.Sleep(tick)
		for _, pg := range hook.all() {
			if pg.ev.Type == alerting.EventEscalated {
				escalated = append(escalated, pg)
			}
		}
	}
	// Let a late copy of any page arrive before counting.
	time.Sleep(3 * time.Second)
	pages := hook.all()
	counts := map[alerting.EventType]int{}
	perKey := map[string]int{}
	for _, pg := range pages {
		if pg.ev.Rule == fired.ev.Rule {
			counts[pg.ev.Type]++
			perKey[pg.ev.Key()]++
			if pg.ev.AlertID != id && pg.ev.Type != alerting.EventResolved {
				t.Errorf("page of another alert id: %s", describe([]page{pg}))
			}
		}
	}
	msg := fmt.Sprintf("alert %s open on %s and acknowledged through %s; %s SIGKILLed; %s showed it acknowledged %v after the kill; pages: %d fired, %d acknowledged, %d escalated (%d in all)",
		id, owner, other, owner, next, takeover.Round(10*time.Millisecond), counts[alerting.EventFired], counts[alerting.EventAcknowledged],
		counts[alerting.EventEscalated], len(pages))
	t.Log(msg + ": " + describe(pages))
	fmt.Println(msg)
	if counts[alerting.EventFired] != 1 || counts[alerting.EventEscalated] != 1 || counts[alerting.EventAcknowledged] != 1 {
		t.Errorf("want one fired, one acknowledged and one escalated page: %s", describe(pages))
	}
	for k, n := range perKey {
		if n > 1 {
			t.Errorf("%s paged %d times", k, n)
		}
	}
	if a := getAlert(t, procs[next], id); a.Level != escalated[0].ev.Level || a.Acknowledged {
		t.Errorf("after the escalation %s shows alert %s at %v, acknowledged %v; want %v, waiting for a new acknowledgement",
			next, id, a.Level, a.Acknowledged, escalated[0].ev.Level)
	}
}

// opsToken is the API token of the operator "li".
const opsToken = "cluster-state-test-operator-token-0123456789"

// findAlert reads one alert from an instance's API.
func findAlert(p *riskmonProc, id string) (console.Alert, bool) {
	req, err := http.NewRequest(http.MethodGet, "http://"+p.addr+"/api/v1/alerts/"+id, nil)
	if err != nil {
		return console.Alert{}, false
	}
	req.Header.Set("Authorization", "Bearer "+opsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return console.Alert{}, false
	}
	defer resp.Body.Close()
	var a console.Alert
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&a) != nil {
		return console.Alert{}, false
	}
	return a, true
}

func getAlert(t *testing.T, p *riskmonProc, id string) console.Alert {
	t.Helper()
	a, ok := findAlert(p, id)
	if !ok {
		t.Fatalf("alert %s not found on %s", id, p.addr)
	}
	return a
}

// ackAlert acknowledges an alert through an instance's API as "li".
func ackAlert(t *testing.T, p *riskmonProc, id, comment string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+p.addr+"/api/v1/alerts/"+id+"/ack",
		strings.NewReader(fmt.Sprintf(`{"comment": %q}`, comment)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+opsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("acknowledge %s: %s", id, resp.Status)
	}
}
