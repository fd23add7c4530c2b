package demo

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/internal/testenv"
)

// buildRiskmon builds the riskmon binary the cluster demo's instances run.
func buildRiskmon(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "riskmon")
	// Without the profile (cmd/riskmon/default.pgo): it changes only what
	// the compiler inlines, and the packages then come from the cache the
	// other tests' builds filled instead of being compiled again.
	if out, err := exec.Command("go", "build", "-pgo=off", "-o", bin, "github.com/riskmon/riskmon/cmd/riskmon").CombinedOutput(); err != nil {
		t.Fatalf("build riskmon: %v\n%s", err, out)
	}
	return bin
}

// TestClusterDemoMeasuredLoad runs two instances under a short measured
// load without chaos: nothing lost, no duplicate page, so the run
// succeeds, and the summary has every process's CPU per reading.
func TestClusterDemoMeasuredLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers and riskmon processes")
	}
	testenv.NeedNATS(t)
	dir := t.TempDir()
	var out bytes.Buffer
	o := quietDemo(5*time.Second, filepath.Join(dir, "state"))
	o.Cluster, o.Rate, o.Binary = 2, 500, buildRiskmon(t, dir)
	err := Run(context.Background(), &out, slog.New(slog.NewTextHandler(io.Discard, nil)), o)
	s := out.String()
	t.Log("\n" + s)
	if err != nil {
		t.Fatalf("cluster demo: %v", err)
	}
	for _, want := range []string{"readings published   2500", "lost                 0", "duplicate pages      0",
		"riskmon rm-1", "riskmon rm-2", "nats-server, 3 nodes", "influxd", "all servers"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

// TestClusterDemoChaos runs `riskmon demo --cluster 3 --chaos` for 40 s:
// one riskmon instance and one NATS node are killed and restarted
// mid-run, and every published reading must be in InfluxDB, the killed
// instance's sites taken over, both restarts done, and no alarm change
// paged twice: the leak's alarm moves with its site.
func TestClusterDemoChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers and riskmon processes")
	}
	testenv.NeedNATS(t)
	dir := t.TempDir()
	bin := buildRiskmon(t, dir)
	var out bytes.Buffer
	o := quietDemo(40*time.Second, filepath.Join(dir, "state"))
	o.Cluster, o.Chaos, o.Binary, o.StatusEvery = 3, true, bin, 5*time.Second
	err := Run(context.Background(), &out, slog.New(slog.NewTextHandler(io.Discard, nil)), o)
	s := out.String()
	t.Log("\n" + s)
	if err != nil {
		t.Fatalf("cluster demo: %v", err)
	}
	for _, want := range []string{"riskmon cluster demo is up", "lost                 0", "duplicate pages      0", "takeover time",
		"SIGKILL riskmon", "owned again", "SIGKILL nats-server"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	m := regexp.MustCompile(`takeover time\s+(\S+)`).FindStringSubmatch(s)
	if m == nil {
		t.Fatal("no takeover time in the summary")
	}
	if d, err := time.ParseDuration(m[1]); err != nil || d > 10*time.Second {
		t.Errorf("takeover time %s (%v), want within the 10 s of docs/cluster.md", m[1], err)
	}
	if n := strings.Count(s, "started again"); n != 2*2 {
		// Each restart is printed as it happens and again in the summary.
		t.Errorf("%d restarts printed, want the instance's and the node's (twice each)", n/2)
	}
}
