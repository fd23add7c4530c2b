package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkDir holds the configurations internal/app/configcheck is tested on.
const checkDir = "../../internal/app/configcheck/testdata/"

// TestCheckConfigPrintsProblems: check-config prints every problem
// internal/app/configcheck finds, one a line with its place, and its error
// counts them. Which problems are found is tested in that package.
func TestCheckConfigPrintsProblems(t *testing.T) {
	out, err := run(t, "check-config", "--config", checkDir+"bad.yaml")
	if err == nil || !strings.Contains(err.Error(), "6 problem(s)") {
		t.Fatalf("err = %v, want 6 problems counted\n%s", err, out)
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		// Continuation lines of a message (expr's caret display) start
		// with a space.
		if l != "" && !strings.HasPrefix(l, " ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 6 || !strings.HasPrefix(lines[0], checkDir+"bad.yaml:5:3: mqtt.broker is empty") ||
		!strings.HasPrefix(lines[5], checkDir+"rules/site.yaml:9: composite rule") {
		t.Errorf("output:\n%s", out)
	}
}

func TestCheckConfigAcceptsRuleFiles(t *testing.T) {
	out, err := run(t, "check-config", "--config", checkDir+"good.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "ok (5 sites, 40 sensors, 2 rule files") {
		t.Errorf("output: %s", out)
	}
}

// TestCheckConfigWarnsOpenListener: a listener reachable from the network
// without TLS and without accounts is warned about, at its line, without
// failing the check; on loopback nothing is said.
func TestCheckConfigWarnsOpenListener(t *testing.T) {
	const file = checkDir + "open_listener.yaml"
	out, err := run(t, "check-config", "--config", file)
	if err != nil {
		t.Fatalf("warnings failed the check: %v\n%s", err, out)
	}
	for _, want := range []string{file + ":3:3: warning: http.listen 0.0.0.0:9464 is reachable from the network without TLS",
		file + ":3:3: warning: http.listen 0.0.0.0:9464 is reachable from the network with no account"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	out, err = run(t, "check-config", "--config", checkDir+"good.yaml")
	if err != nil || strings.Contains(out, "warning") {
		t.Fatalf("loopback listener: %v\n%s", err, out)
	}
}

// TestCheckConfigExplains: with --explain a passing check prints the
// sensor's effective rules, and an unknown sensor fails.
func TestCheckConfigExplains(t *testing.T) {
	out, err := run(t, "check-config", "--config", checkDir+"good.yaml", "--explain", "coal-01/CH4-102")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "forecast ch4_forecast: level 4-blue, window 2m0s, horizon 1h0m0s") {
		t.Errorf("no explanation:\n%s", out)
	}
	if _, err := run(t, "check-config", "--config", checkDir+"good.yaml", "--explain", "coal-01/CH4-999"); err == nil {
		t.Error("an unknown sensor was explained")
	}
}

// TestCheckConfigNamesClusterOffline: in cluster mode the summary names
// the NATS cluster, not the unused mqtt.broker, and says --offline left it
// uncontacted.
func TestCheckConfigNamesClusterOffline(t *testing.T) {
	dir := t.TempDir()
	fleet, err := filepath.Abs("../../deploy/examples/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	conf := "registry: " + fleet + "\ncluster:\n  urls: [nats://n1:4222, nats://n2:4222]\n"
	file := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "check-config", "--offline", "--config", file)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "cluster nats://n1:4222,nats://n2:4222 (not contacted: --offline)") || strings.Contains(out, "broker tcp://") {
		t.Errorf("output: %s", out)
	}
}
