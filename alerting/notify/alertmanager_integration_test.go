package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// alertmanagerVersion is the Alertmanager the integration test runs;
// `make deps` should install the same one. v0.31.1 passes too; v0.33.1
// and v0.35.0 do not build with go install (their module lacks the UI's
// app/dist, which ui/web.go embeds).
const alertmanagerVersion = "v0.28.1"

const alertmanagerInstall = "GOBIN=$(pwd)/.state/bin go install github.com/prometheus/alertmanager/cmd/alertmanager@" + alertmanagerVersion

// alertmanagerBinary finds the alertmanager executable:
// $RISKMON_ALERTMANAGER, then the project's .state/bin, then PATH. When
// there is none it builds it into .state/bin with go install, as `make
// deps` would. A binary that cannot be found or built fails the test: a
// skipped integration test would pass CI without testing anything.
func alertmanagerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("RISKMON_ALERTMANAGER"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("RISKMON_ALERTMANAGER=%s: %v", p, err)
		}
		return p
	}
	root, err := projectRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, ".state", "bin")
	local := filepath.Join(bin, "alertmanager")
	if _, err := os.Stat(local); err == nil {
		return local
	}
	if p, err := exec.LookPath("alertmanager"); err == nil {
		return p
	}
	t.Logf("alertmanager not found; building %s into %s (a few minutes the first time)", alertmanagerVersion, bin)
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/prometheus/alertmanager/cmd/alertmanager@"+alertmanagerVersion)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("alertmanager not found and not built (%v):\n%s\ninstall it from the project root with\n  %s\nor set RISKMON_ALERTMANAGER", err, out, alertmanagerInstall)
	}
	return local
}

// projectRoot walks up from the working directory to the folder with go.mod.
func projectRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startAlertmanager runs a single, unclustered Alertmanager with a
// receiver that sends nothing and returns its base URL once it is ready.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	binary := alertmanagerBinary(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "alertmanager.yml")
	// A short group_wait so alerts are processed at once.
	const cfg = "route:\n  receiver: blackhole\n  group_wait: 0s\n  group_interval: 1s\nreceivers:\n  - name: blackhole\n"
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	logf, err := os.Create(filepath.Join(dir, "alertmanager.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(binary,
		"--config.file="+config,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=", // empty disables clustering (gossip on :9094)
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start alertmanager: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("alertmanager log:\n%s", out)
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case err := <-exited:
			exited <- err
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("alertmanager exited: %v\n%s", err, out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("alertmanager not ready after 30s")
		}
	}
}

// gettableAlert is the part of Alertmanager's GettableAlert the test reads.
type gettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// activeAlerts lists the alerts of a rule that Alertmanager holds as not
// yet ended; resolved alerts are not listed.
func activeAlerts(t *testing.T, base, rule string) []gettableAlert {
	t.Helper()
	q := url.Values{"filter": {fmt.Sprintf("alertname=%q", rule)}}
	resp, err := http.Get(base + "/api/v2/alerts?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET alerts: %s", resp.Status)
	}
	var out []gettableAlert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAlertmanagerIntegration(t *testing.T) {
	base := startAlertmanager(t)
	am, err := NewAlertmanager(AlertmanagerOptions{
		URL: base, ResendInterval: 200 * time.Millisecond,
		GeneratorURL: "http://riskmon.example/api/alerts", Labels: map[string]string{"env": "test"},
		RetryOptions: fastRetry(t),
	}, Deps{}) // the real clock: Alertmanager expires alerts on its own
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- am.Run(ctx) }()

	now := time.Now().UTC().Truncate(time.Millisecond)
	fired := firedEvent()
	fired.StartsAt, fired.At = now.Add(-4*time.Second), now
	if err := am.Notify(ctx, fired); err != nil {
		t.Fatal(err)
	}
	var got []gettableAlert
	waitFor(t, "the fired alert", func() bool {
		got = activeAlerts(t, base, fired.Rule)
		return len(got) == 1 && got[0].Status.State == "active"
	})
	want := map[string]string{
		"alertname": "combustible_gas_high", "site": "hz-01", "sensor": "GT-101", "kind": "combustible_gas",
		"severity": "major", "level": "2", "color": "orange", "env": "test",
	}
	if !maps.Equal(got[0].Labels, want) {
		t.Errorf("labels %v, want %v", got[0].Labels, want)
	}
	if got[0].Annotations["summary"] != fired.Message || !got[0].StartsAt.Equal(fired.StartsAt) {
		t.Errorf("alert %+v", got[0])
	}

	// Valid for four resend intervals (800 ms): still there after 1.5 s
	// only because Run sends it again.
	time.Sleep(1500 * time.Millisecond)
	if got := activeAlerts(t, base, fired.Rule); len(got) != 1 {
		t.Fatalf("after 1.5s of resends: %d alerts, want 1", len(got))
	}

	// Escalation replaces the orange alert with a red one.
	esc := fired
	esc.Type, esc.Level, esc.PrevLevel, esc.At = alerting.EventEscalated, sensors.LevelRed, sensors.LevelOrange, time.Now().UTC()
	if err := am.Notify(ctx, esc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the escalation", func() bool {
		got = activeAlerts(t, base, fired.Rule)
		return len(got) == 1 && got[0].Labels["color"] == "red" && got[0].Labels["severity"] == "critical"
	})

	resolved := esc
	resolved.Type, resolved.Level, resolved.PrevLevel, resolved.At = alerting.EventResolved, sensors.LevelNone, sensors.LevelRed, time.Now().UTC()
	if err := am.Notify(ctx, resolved); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resolve", func() bool { return len(activeAlerts(t, base, fired.Rule)) == 0 })
	if am.Active() != 0 {
		t.Errorf("%d alerts still kept alive", am.Active())
	}
	if err := am.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	if dead := readDeadLetters(t, am.opts.DeadLetter); len(dead) != 0 {
		t.Errorf("dead letters %+v", dead)
	}
}

// TestAlertmanagerExpiresWithoutResend checks the other half of the
// keep-alive: once riskmon stops resending, Alertmanager ends the alert by
// itself.
func TestAlertmanagerExpiresWithoutResend(t *testing.T) {
	base := startAlertmanager(t)
	am, err := NewAlertmanager(AlertmanagerOptions{URL: base, ResendInterval: 500 * time.Millisecond, RetryOptions: fastRetry(t)}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ev := firedEvent()
	ev.Rule = "sensor_stale"
	ev.StartsAt, ev.At = time.Now().UTC(), time.Now().UTC()
	if err := am.Notify(t.Context(), ev); err != nil { // Run never started
		t.Fatal(err)
	}
	waitFor(t, "the alert", func() bool { return len(activeAlerts(t, base, ev.Rule)) == 1 })
	waitFor(t, "the alert to expire", func() bool { return len(activeAlerts(t, base, ev.Rule)) == 0 })
}
