package faults

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/cluster"
	"github.com/riskmon/riskmon/console"
	"github.com/riskmon/riskmon/sensors"
)

// alertCluster is two riskmon instances on a 3-node NATS cluster with
// one site of gas detectors, a gateway publishing to a NATS node's MQTT
// listener and a webhook receiver counting pages.
type alertCluster struct {
	*clusterRig
	ids   []string
	procs map[string]*riskmonProc
	hook  *pager
	gw    *gasGateway
	p     int // the site's partition
}

func newAlertCluster(t *testing.T) *alertCluster {
	c := newClusterRig(t)
	reg, regFile := gasRegistry(t, c.dir, 4)
	c.reg, c.regFile = reg, regFile
	ac := &alertCluster{clusterRig: c, ids: []string{"rm-a", "rm-b"}, procs: map[string]*riskmonProc{}, hook: newPager(t),
		p: cluster.PartitionOf(gasSite, clusterPartitions)}
	withHook := func(conf map[string]any) {
		conf["http"].(map[string]any)["tokens"] = []any{map[string]any{"name": "li", "token": opsToken, "role": "operator"}}
		conf["alerting"] = map[string]any{"forecast": false, "repeat": map[string]any{},
			"flapping": map[string]any{"raises": 1_000_000},
			"notify": map[string]any{"log": false, "mqtt": false,
				"webhooks": []any{map[string]any{"url": ac.hook.srv.URL, "timeout": "5s", "max_elapsed": "2m"}}}}
	}
	for _, id := range ac.ids {
		ac.procs[id] = c.instanceWith(id, withHook)
		startInstance(t, ac.procs[id])
	}
	c.waitBalanced(len(ac.ids))
	ac.gw = newGasGateway(t, c.nats.Nodes[0].MQTTURL(), reg)
	return ac
}

// publishTick is the gateway's reporting interval in these tests.
const publishTick = 200 * time.Millisecond

// publishUntil publishes detector 0 at high %LEL (the others clean) every
// publishTick until done, and fails the test after limit.
func (ac *alertCluster) publishUntil(limit time.Duration, high float64, what string, done func() bool) {
	ac.t.Helper()
	deadline := time.Now().Add(limit)
	for !done() {
		if time.Now().After(deadline) {
			ac.t.Fatalf("not within %v: %s; pages: %s", limit, what, describe(ac.hook.all()))
		}
		ac.gw.publish(time.Now(), func(i int) float64 {
			if i == 0 {
				return high
			}
			return 3
		})
		time.Sleep(publishTick)
	}
}

// paged returns the first page of type typ, if any.
func (ac *alertCluster) paged(typ alerting.EventType) (page, bool) {
	for _, pg := range ac.hook.all() {
		if pg.ev.Type == typ {
			return pg, true
		}
	}
	return page{}, false
}

// raise publishes 27 %LEL until the alarm is paged, and returns its page
// and the instance holding the site.
func (ac *alertCluster) raise() (page, string) {
	ac.t.Helper()
	ac.publishUntil(20*time.Second, 27, "the raise paged", func() bool { _, ok := ac.paged(alerting.EventFired); return ok })
	fired, _ := ac.paged(alerting.EventFired)
	owner := ac.owner(ac.p)
	if a := getAlert(ac.t, ac.procs[owner], fired.ev.AlertID); a.Level != fired.ev.Level {
		ac.t.Fatalf("owner %s shows alert %s at %v, paged at %v", owner, fired.ev.AlertID, a.Level, fired.ev.Level)
	}
	return fired, owner
}

// other is the instance that is not id.
func (ac *alertCluster) other(id string) string {
	if ac.ids[0] == id {
		return ac.ids[1]
	}
	return ac.ids[0]
}

// countPages waits for late copies, then counts the pages of the rule by
// type, fails the test on a change paged twice or a page of another
// alert, and returns the counts and every page.
func (ac *alertCluster) countPages(rule, id string) (map[alerting.EventType]int, []page) {
	ac.t.Helper()
	time.Sleep(3 * time.Second)
	pages := ac.hook.all()
	counts := map[alerting.EventType]int{}
	perKey := map[string]int{}
	for _, pg := range pages {
		if pg.ev.Rule != rule {
			continue
		}
		counts[pg.ev.Type]++
		if perKey[pg.ev.Key()]++; perKey[pg.ev.Key()] == 2 {
			ac.t.Errorf("paged more than once: %s", describe([]page{pg}))
		}
		if pg.ev.AlertID != id && pg.ev.Type != alerting.EventResolved {
			ac.t.Errorf("page of another alert id: %s", describe([]page{pg}))
		}
	}
	return counts, pages
}

// TestClusterAlertFollowsSite: a gas alarm is open on the instance that
// owns its site, shown by the other instance too (live on its console's
// stream, and on its board) and acknowledged there,
// when the owner is killed with SIGKILL. The instance that takes the site
// over shows the same alert id, still acknowledged, and escalates it
// under that id when the gas rises further; across both instances the
// raise, the acknowledgement and the escalation are paged once each.
func TestClusterAlertFollowsSite(t *testing.T) {
	ac := newAlertCluster(t)
	streams := map[string]*alertStream{}
	for _, id := range ac.ids {
		streams[id] = followAlerts(t, ac.procs[id])
	}
	fired, owner := ac.raise()
	id := fired.ev.AlertID
	// The other instance shows the alert too, live on its console's
	// stream and on its board, and an acknowledgement made there reaches
	// the owner.
	other := ac.other(owner)
	waitUntilT(t, 5*time.Second, fmt.Sprintf("alert %s fired on %s's stream", id, other), func() bool {
		return streams[other].has(id, alerting.EventFired)
	})
	waitUntilT(t, 5*time.Second, fmt.Sprintf("alert %s shown on %s", id, other), func() bool {
		_, ok := findAlert(ac.procs[other], id)
		return ok
	})
	ackAlert(t, ac.procs[other], id, "crew on the way")
	if a := getAlert(t, ac.procs[owner], id); !a.Acknowledged || a.AckedBy != "li" {
		t.Fatalf("acknowledged on %s, the owner %s shows it acknowledged %v by %q", other, owner, a.Acknowledged, a.AckedBy)
	}

	// The owner dies once the acknowledgement is paged and the page's
	// claim marked sent. Killed in the few milliseconds between the
	// delivery and that mark, the next owner pages it again, with the
	// same idempotency key (docs/cluster.md#alert-state).
	ac.hook.waitPages(10*time.Second, func(ps []page) bool {
		return slices.ContainsFunc(ps, func(pg page) bool { return pg.ev.Type == alerting.EventAcknowledged })
	})
	time.Sleep(500 * time.Millisecond)
	ac.procs[owner].kill()
	killed := time.Now()
	// The new owner answers for the alert once it has taken the site up.
	var a console.Alert
	ac.publishUntil(takeoverLimit, 27, fmt.Sprintf("alert %s shown by the new owner %s", id, other), func() bool {
		var ok bool
		if ac.owner(ac.p) == other {
			a, ok = findAlert(ac.procs[other], id)
		}
		return ok
	})
	takeover := time.Since(killed)
	if !a.Acknowledged || a.AckedBy != "li" || a.Lifecycle != alerting.StateActiveAcked.String() {
		t.Errorf("on %s alert %s is %s, acknowledged %v by %q; want it still acknowledged by li", other, id, a.Lifecycle, a.Acknowledged, a.AckedBy)
	}
	// The gas rises: the new owner escalates the same alert.
	ac.publishUntil(20*time.Second, 60, "the escalation paged", func() bool { _, ok := ac.paged(alerting.EventEscalated); return ok })
	escalated, _ := ac.paged(alerting.EventEscalated)
	counts, pages := ac.countPages(fired.ev.Rule, id)
	msg := fmt.Sprintf("alert %s open on %s and acknowledged through %s; %s SIGKILLed; %s showed it acknowledged %v after the kill; pages: %d fired, %d acknowledged, %d escalated (%d in all)",
		id, owner, other, owner, other, takeover.Round(10*time.Millisecond), counts[alerting.EventFired], counts[alerting.EventAcknowledged],
		counts[alerting.EventEscalated], len(pages))
	t.Log(msg + ": " + describe(pages))
	fmt.Println(msg)
	if counts[alerting.EventFired] != 1 || counts[alerting.EventEscalated] != 1 || counts[alerting.EventAcknowledged] != 1 {
		t.Errorf("want one fired, one acknowledged and one escalated page: %s", describe(pages))
	}
	if a := getAlert(t, ac.procs[other], id); a.Level != escalated.ev.Level || a.Acknowledged {
		t.Errorf("after the escalation %s shows alert %s at %v, acknowledged %v; want %v, waiting for a new acknowledgement",
			other, id, a.Level, a.Acknowledged, escalated.ev.Level)
	}
}

// TestClusterAlertOwnerFrozen: the owner of a site with an open gas
// alarm is frozen with SIGSTOP past its lease while the gas rises. The
// other instance takes the site over and escalates the same alert; let
// go with SIGCONT, the frozen instance stands down and the partitions
// spread again. The raise and the escalation are paged once each, and
// both instances show the alert red under its id.
func TestClusterAlertOwnerFrozen(t *testing.T) {
	ac := newAlertCluster(t)
	fired, owner := ac.raise()
	id := fired.ev.AlertID
	other := ac.other(owner)
	frozen := ac.procs[owner]
	if err := frozen.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	defer func() { _ = frozen.cmd.Process.Signal(syscall.SIGCONT) }()
	ac.publishUntil(takeoverLimit, 27, "the site taken over", func() bool { return ac.owner(ac.p) == other })
	takeover := time.Since(stopped)
	ac.publishUntil(20*time.Second, 60, "the escalation paged", func() bool { _, ok := ac.paged(alerting.EventEscalated); return ok })
	// Frozen well past its lease, then let go under load.
	ac.publishUntil(4*clusterLeaseTTL+5*time.Second, 60, "frozen past its lease", func() bool { return time.Since(stopped) >= 4*clusterLeaseTTL })
	if err := frozen.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	// It stands down, and the partitions spread over both again: the
	// site may come back to it, which then takes the alert up in turn.
	c := ac.clusterRig
	c.waitBalanced(len(ac.ids))
	ac.publishUntil(5*time.Second, 60, "readings after the rebalance", func() bool { return time.Since(resumed) > 3*time.Second })
	holder := ac.owner(ac.p)
	counts, pages := ac.countPages(fired.ev.Rule, id)
	msg := fmt.Sprintf("alert %s open on %s, frozen %v (taken over by %s in %v, held by %s after the rebalance); pages: %d fired, %d escalated (%d in all)",
		id, owner, resumed.Sub(stopped).Round(100*time.Millisecond), other, takeover.Round(10*time.Millisecond), holder,
		counts[alerting.EventFired], counts[alerting.EventEscalated], len(pages))
	t.Log(msg + ": " + describe(pages))
	fmt.Println(msg)
	if counts[alerting.EventFired] != 1 || counts[alerting.EventEscalated] != 1 {
		t.Errorf("want one fired and one escalated page: %s", describe(pages))
	}
	for _, id2 := range ac.ids {
		if a := getAlert(t, ac.procs[id2], id); a.Level != sensors.LevelRed {
			t.Errorf("%s shows alert %s at %v, want red", id2, id, a.Level)
		}
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

// alertStream follows an instance's console stream (GET /api/v1/stream)
// and records the alert ids and types of its alert events.
type alertStream struct {
	mu   sync.Mutex
	seen map[string]bool // alert id + " " + type
}

func followAlerts(t *testing.T, p *riskmonProc) *alertStream {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+p.addr+"/api/v1/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+opsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("stream of %s: %s", p.addr, resp.Status)
	}
	t.Cleanup(func() { resp.Body.Close() })
	s := &alertStream{seen: map[string]bool{}}
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "alert":
				var ev struct {
					AlertID string `json:"alert_id"`
					Type    string `json:"type"`
				}
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev) == nil {
					s.mu.Lock()
					s.seen[ev.AlertID+" "+ev.Type] = true
					s.mu.Unlock()
				}
			}
		}
	}()
	return s
}

func (s *alertStream) has(id string, typ alerting.EventType) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[id+" "+typ.String()]
}
