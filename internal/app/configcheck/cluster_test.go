package configcheck

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/cluster"
	"github.com/riskmon/riskmon/internal/natsproc"
	"github.com/riskmon/riskmon/internal/testenv"
)

// clusterConfig writes a configuration with the fleet of good.yaml and
// the given cluster section.
func clusterConfig(t *testing.T, section string) string {
	t.Helper()
	reg, err := filepath.Abs("../../../deploy/examples/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "riskmon.yaml")
	if err := os.WriteFile(path, []byte("registry: "+reg+"\ncluster:\n"+section), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckCluster: check-config's cluster step says why an instance
// could not join — nothing listening, a stream made with another
// partition count — and what it found when it could.
func TestCheckCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := Check(clusterConfig(t, "  urls: [nats://127.0.0.1:1]\n  instance_id: a\n"))
	if state := r.CheckCluster(ctx); state != "" || len(r.Problems) != 1 || !strings.Contains(r.Problems[0].Error(), "no NATS server reachable at nats://127.0.0.1:1") {
		t.Errorf("unreachable: state %q, problems %v", state, r.Problems)
	}

	if testing.Short() {
		t.Skip("skipped under -short: the rest runs nats-server")
	}
	testenv.NeedNATS(t)
	nc, err := natsproc.Start(t.TempDir(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Stop()
	section := fmt.Sprintf("  urls: [%s]\n  instance_id: a\n  replicas: 1\n", nc.URLs()[0])
	r = Check(clusterConfig(t, section+"  partitions: 4\n"))
	if state := r.CheckCluster(ctx); !strings.Contains(state, "does not exist yet") || !r.OK() {
		t.Errorf("no stream yet: state %q, problems %v", state, r.Problems)
	}
	// An instance creates the stream with 4 partitions.
	n, err := cluster.Connect(ctx, cluster.Options{URLs: nc.URLs(), Instance: "a", Replicas: 1, Partitions: 4}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	if state := r.CheckCluster(ctx); !strings.Contains(state, "stream RISKMON: 4 partitions, 1 replicas") || !r.OK() {
		t.Errorf("same count: state %q, problems %v", state, r.Problems)
	}
	r = Check(clusterConfig(t, section+"  partitions: 8\n"))
	if state := r.CheckCluster(ctx); state != "" || len(r.Problems) != 1 ||
		!strings.Contains(r.Problems[0].Error(), "cluster.partitions is 8 but stream RISKMON was created with 4") {
		t.Errorf("other count: state %q, problems %v", state, r.Problems)
	}
}
