package demo

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
)

// instance is one `riskmon serve` child process of the cluster demo,
// with its own state folder, configuration and log file, so that it can
// be killed and started again as the same instance.
type instance struct {
	id, bin, conf, addr, logPath string

	cmd    *exec.Cmd
	exited chan struct{}
}

// instanceConfig is what the demo writes for one instance.
type instanceConfig struct {
	dir, regFile, influxURL, sinkURL, httpAddr string
	natsURLs                                   []string
	users                                      []map[string]string
}

// clusterPartitions and clusterLeaseTTL are the demo's cluster settings:
// few partitions for a small fleet, and a short lease so a takeover shows
// within the run.
const (
	clusterPartitions = 8
	clusterLeaseTTL   = 2 * time.Second
)

// newInstance writes id's configuration under c.dir/id.
func newInstance(bin, id string, c instanceConfig) (*instance, error) {
	state := filepath.Join(c.dir, id)
	if err := os.MkdirAll(state, 0o755); err != nil {
		return nil, err
	}
	conf := map[string]any{
		"log_level": "warn", "state_dir": state, "registry": c.regFile,
		"http":     map[string]any{"listen": c.httpAddr, "users": c.users},
		"influxdb": map[string]any{"url": c.influxURL, "bucket": "riskmon"},
		"cluster": map[string]any{"urls": c.natsURLs, "instance_id": id, "partitions": clusterPartitions,
			"replicas": 3, "lease_ttl": clusterLeaseTTL.String(), "ack_wait": "3s"},
		"alerting": map[string]any{"notify": map[string]any{"log": false, "mqtt": false,
			"webhooks": []map[string]any{{"url": c.sinkURL}}}},
	}
	b, err := yaml.Marshal(conf)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(state, "riskmon.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	return &instance{id: id, bin: bin, conf: path, addr: c.httpAddr, logPath: filepath.Join(state, "riskmon.log")}, nil
}

// start runs the instance and waits until it has joined the cluster. A
// new NATS cluster may still be electing its leaders, and serve then
// exits at start with the reason: it is started again until limit.
func (in *instance) start(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if err := in.spawn(); err != nil {
			return err
		}
		for {
			if v, ok := in.metric("riskmon_mqtt_connected"); ok && v == 1 {
				return nil
			}
			select {
			case <-ctx.Done():
				in.stop()
				return ctx.Err()
			case <-in.exited:
			case <-time.After(100 * time.Millisecond):
				if time.Now().After(deadline) {
					in.stop()
					return fmt.Errorf("riskmon %s did not join the cluster within %v (log: %s)", in.id, limit, in.logPath)
				}
				continue
			}
			break
		}
		in.cmd = nil
		if time.Now().After(deadline) {
			return fmt.Errorf("riskmon %s kept exiting at start (log: %s)", in.id, in.logPath)
		}
		time.Sleep(time.Second)
	}
}

func (in *instance) spawn() error {
	logf, err := os.OpenFile(in.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(in.bin, "serve", "--config", in.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C in the terminal reaches the demo,
	// which then stops each instance itself, by its process id.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start riskmon %s: %w", in.id, err)
	}
	in.cmd, in.exited = cmd, make(chan struct{})
	exited := in.exited
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	return nil
}

// pid is the running process's id, 0 when it is not running.
func (in *instance) pid() int {
	if in.cmd == nil {
		return 0
	}
	return in.cmd.Process.Pid
}

// kill ends the instance with SIGKILL, as a crash or a power cut does.
func (in *instance) kill() { in.end(syscall.SIGKILL, 0) }

// stop ends it with SIGTERM, so it hands its partitions over, and kills
// it if it has not exited after 20 s.
func (in *instance) stop() { in.end(syscall.SIGTERM, 20*time.Second) }

func (in *instance) end(sig syscall.Signal, grace time.Duration) {
	if in.cmd == nil {
		return
	}
	_ = in.cmd.Process.Signal(sig)
	if grace > 0 {
		select {
		case <-in.exited:
		case <-time.After(grace):
			_ = in.cmd.Process.Kill()
		}
	}
	<-in.exited
	in.cmd = nil
}

// metric reads one unlabelled figure from the instance's /metrics.
func (in *instance) metric(name string) (float64, bool) {
	cl := http.Client{Timeout: time.Second}
	resp, err := cl.Get("http://" + in.addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}
