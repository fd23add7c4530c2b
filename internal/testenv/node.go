package testenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// NodeInstall copies files from src (a folder with package.json and
// package-lock.json among them) to a temporary folder, installs their
// locked dependencies there with `npm ci`, and returns the folder. Node
// clients are other people's code the tests must meet, so under CI=true a
// missing node or npm fails the test; elsewhere it skips it.
func NodeInstall(t testing.TB, src string, files ...string) string {
	t.Helper()
	for _, bin := range []string{"node", "npm"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true and no %s on PATH: this test runs a Node.js client and must run in CI; install Node.js 20 (apt-get install -y nodejs npm)", bin)
			}
			t.Skipf("no %s on PATH: install Node.js 20 to run this test", bin)
		}
	}
	dir := t.TempDir()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return dir
}

// InfluxCount runs an InfluxQL query whose first value is a count (for
// example SELECT count("value") …) on the InfluxDB 1.8 at url and returns
// it; 0 when the query matches nothing.
func InfluxCount(url, db, q string) (float64, error) {
	resp, err := http.Get(url + "/query?" + neturl.Values{"db": {db}, "q": {q}}.Encode())
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var res struct {
		Results []struct {
			Series []struct{ Values [][]any }
			Error  string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return 0, fmt.Errorf("InfluxDB answer: %w", err)
	}
	var n float64
	for _, r := range res.Results {
		if r.Error != "" {
			return 0, errors.New(r.Error)
		}
		for _, s := range r.Series {
			for _, v := range s.Values {
				if len(v) > 1 {
					if c, ok := v[1].(float64); ok {
						n += c
					}
				}
			}
		}
	}
	return n, nil
}
