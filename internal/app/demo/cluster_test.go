package demo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/internal/testenv"
)

// TestClusterDemoChaos runs `riskmon demo --cluster 3 --chaos` for 40 s:
// one riskmon instance and one NATS node are killed and restarted
// mid-run, and every published reading must be in InfluxDB, the killed
// instance's sites taken over and both restarts done.
//
// Alert state does not move with a site yet (docs/cluster.md, Status):
// the new owner of the leaking site raises its own alarm, which the demo
// counts as a duplicate page and fails on. The test accepts that failure
// alone, and logs it; it must become a plain success once open alerts
// move with their site.
func TestClusterDemoChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers and riskmon processes")
	}
	testenv.NeedNATS(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "riskmon")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/riskmon/riskmon/cmd/riskmon").CombinedOutput(); err != nil {
		t.Fatalf("build riskmon: %v\n%s", err, out)
	}
	var out bytes.Buffer
	o := quietDemo(40*time.Second, filepath.Join(dir, "state"))
	o.Cluster, o.Chaos, o.Binary, o.StatusEvery = 3, true, bin, 5*time.Second
	err := Run(context.Background(), &out, slog.New(slog.NewTextHandler(io.Discard, nil)), o)
	s := out.String()
	t.Log("\n" + s)
	if err != nil && !errors.Is(err, ErrDuplicatePages) {
		t.Fatalf("cluster demo: %v", err)
	}
	if err != nil {
		t.Logf("duplicate pages, as long as alert state stays with each instance: %v", err)
	}
	for _, want := range []string{"riskmon cluster demo is up", "lost                 0", "takeover time",
		"SIGKILL riskmon", "owned again", "SIGKILL nats-server"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if n := strings.Count(s, "started again"); n != 2*2 {
		// Each restart is printed as it happens and again in the summary.
		t.Errorf("%d restarts printed, want the instance's and the node's (twice each)", n/2)
	}
}
