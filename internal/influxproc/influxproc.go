// Package influxproc runs a local InfluxDB OSS 1.8 server as a child
// process: for the demo, for `make run` and for integration tests. The
// server serves the v2 write and Flux query API that riskmon uses, so the
// same code talks to it and to InfluxDB 2.x.
package influxproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options say where and how to run the server.
type Options struct {
	// Binary is the influxd executable; empty means FindBinary.
	Binary string
	// Dir holds the config, meta, data and WAL folders.
	Dir string
	// Port for HTTP on 127.0.0.1; 0 picks a free one.
	Port int
	// Log receives the server's output; nil discards it.
	Log io.Writer
	// Database is created once the server is up.
	Database string
}

// Server is a running influxd.
type Server struct {
	URL      string
	Database string
	cmd      *exec.Cmd
	exited   chan error
}

// FindBinary looks for influxd: $RISKMON_INFLUXD, then the project's
// .state/bin (where `make deps` installs it), then PATH.
func FindBinary() (string, error) {
	return FindTool("influxd", "RISKMON_INFLUXD", "run `make deps` (installs InfluxDB 1.8.10 into .state/bin) or set RISKMON_INFLUXD")
}

// FindTool looks for the server binary name the tests and the demo start:
// the path in $env, then the project's .state/bin (where `make deps`
// installs it), then PATH. howTo says, when it is nowhere, how to get it.
func FindTool(name, env, howTo string) (string, error) {
	if p := os.Getenv(env); p != "" {
		return p, nil
	}
	if root, err := projectRoot(); err == nil {
		p := filepath.Join(root, ".state", "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found: %s", name, howTo)
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

// FreePort asks the kernel for a free loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

const configTemplate = `reporting-disabled = true
bind-address = "127.0.0.1:%d"

[meta]
  dir = %q

[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false

[http]
  bind-address = "127.0.0.1:%d"
  flux-enabled = true
  log-enabled = false
  max-body-size = 0

[monitor]
  store-enabled = false

[continuous_queries]
  enabled = false

[logging]
  level = "warn"
`

// Start runs influxd and waits until it answers and the database exists.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Binary == "" {
		b, err := FindBinary()
		if err != nil {
			return nil, err
		}
		o.Binary = b
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("influxd dir: %w", err)
	}
	port := o.Port
	if port == 0 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	rpc, err := FreePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(o.Dir, "influxdb.conf")
	text := fmt.Sprintf(configTemplate, rpc, filepath.Join(o.Dir, "meta"), filepath.Join(o.Dir, "data"),
		filepath.Join(o.Dir, "wal"), port)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, fmt.Errorf("influxd config: %w", err)
	}
	cmd := exec.Command(o.Binary, "run", "-config", conf)
	cmd.Stdout, cmd.Stderr = o.Log, o.Log
	// Its own process group, so a Ctrl-C in the terminal reaches riskmon
	// first and riskmon stops the database after its last write.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start influxd: %w", err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Database: o.Database, cmd: cmd, exited: make(chan error, 1)}
	go func() { s.exited <- cmd.Wait() }()
	if err := s.waitHealthy(ctx, 60*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	if o.Database != "" {
		if err := s.Query(ctx, "CREATE DATABASE "+o.Database); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

func (s *Server) waitHealthy(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.exited:
			s.exited <- err
			return fmt.Errorf("influxd exited during startup: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(s.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("influxd at %s not healthy after %s", s.URL, limit)
}

// Query runs an InfluxQL statement on the 1.x endpoint (used only for
// administration such as CREATE DATABASE, which the v2 API lacks in 1.8).
func (s *Server) Query(ctx context.Context, q string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/query",
		strings.NewReader(url.Values{"q": {q}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("influxql %q: %w", q, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"error"`) {
		return fmt.Errorf("influxql %q: %s: %s", q, resp.Status, body)
	}
	return nil
}

// Port is the HTTP port, so a restarted server can take the same one.
func (s *Server) Port() int {
	u, err := url.Parse(s.URL)
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(u.Port())
	return p
}

// Kill ends the server at once with SIGKILL, as a crash would.
func (s *Server) Kill() {
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.exited <- nil
}

// Stop terminates the server, killing it if it does not stop in time.
func (s *Server) Stop() error {
	if s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		s.exited <- nil
		return nil
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		s.exited <- nil
		return errors.New("influxd did not stop on SIGTERM; killed")
	}
}

// Pid is the server's process id, for sampling its CPU and memory.
func (s *Server) Pid() int {
	if s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}
