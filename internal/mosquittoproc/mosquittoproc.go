// Package mosquittoproc runs a Mosquitto broker as a child process with
// riskmon's tuned configuration, for integration tests and the load
// benchmark.
package mosquittoproc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/riskmon/riskmon/internal/influxproc"
)

// Config is the broker configuration riskmon tests and ships: persistence
// on and saved after every 1,000 changes (autosave_on_changes: a change is
// a queued or delivered message, a subscription or a retained message), so
// riskmon's subscription is on disk within the first thousand changes and
// a kill -9 loses at most the messages of the last thousand changes that
// riskmon had not yet taken. Saving after every change rewrites the whole
// database each time and cut intake to about 450 messages/s here, which a
// site cannot afford (docs/protocol.md has the figures). Queue and in-flight limits
// raised far above the defaults (20 in flight, 1,000 queued), which drop
// QoS 1 messages under load. QoS 0 messages queued for a persistent
// session while it is away: Sparkplug B sends its DATA at QoS 0.
// deploy/mosquitto/mosquitto.conf carries the same settings.
const Config = `listener %d 127.0.0.1
allow_anonymous true
persistence true
persistence_location %s/
` + Autosave + `max_inflight_messages 20000
max_queued_messages 1000000
max_queued_bytes 0
max_packet_size 1048576
queue_qos0_messages true
log_dest stderr
log_type error
log_type warning
`

// Autosave is the persistence schedule of Config.
const Autosave = "autosave_on_changes true\nautosave_interval 1000\n"

// IntervalAutosave is Mosquitto's timed schedule, for measuring what
// saving on changes costs.
const IntervalAutosave = "autosave_interval 60\n"

// Server is a running mosquitto.
type Server struct {
	URL     string
	Port    int
	cmd     *exec.Cmd
	exited  chan error
	stopped bool
}

// FindBinary looks for mosquitto on PATH and in /usr/sbin, where Debian
// puts it (not on a normal user's PATH).
func FindBinary() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto", nil
	}
	return "", errors.New("mosquitto not found: install it with `apt-get install -y mosquitto` (make deps does this as root)")
}

// Start runs mosquitto on a free loopback port with its config and
// persistence in dir, and waits until it accepts connections.
func Start(dir string, log io.Writer) (*Server, error) {
	port, err := influxproc.FreePort()
	if err != nil {
		return nil, err
	}
	return StartOn(dir, port, log)
}

// StartOn is Start on a given port: a restart on the same port and folder
// finds its persisted sessions and queued messages again.
func StartOn(dir string, port int, log io.Writer) (*Server, error) {
	return start(dir, port, "tcp", fmt.Sprintf(Config, port, dir), log)
}

// StartSecure runs mosquitto with a TLS listener (server certificate and
// key, CA for clients to verify it) and a password file, anonymous access
// off: what a production broker should look like.
func StartSecure(dir, certFile, keyFile, passwordFile string, log io.Writer) (*Server, error) {
	port, err := influxproc.FreePort()
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(Config, port, dir)
	conf = strings.Replace(conf, "allow_anonymous true\n", "", 1)
	conf += fmt.Sprintf("certfile %s\nkeyfile %s\nallow_anonymous false\npassword_file %s\n", certFile, keyFile, passwordFile)
	return start(dir, port, "ssl", conf, log)
}

func start(dir string, port int, scheme, conf string, log io.Writer) (*Server, error) {
	bin, err := FindBinary()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = io.Discard
	}
	if os.Geteuid() == 0 {
		// As root Mosquitto drops to the mosquitto user, which cannot
		// write to our folder.
		conf += "user root\n"
	}
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-c", path)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start mosquitto: %w", err)
	}
	s := &Server{URL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, port), Port: port, cmd: cmd, exited: make(chan error, 1)}
	go func() { s.exited <- cmd.Wait() }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case err := <-s.exited:
			return nil, fmt.Errorf("mosquitto exited at start: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("mosquitto not listening on %s: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StartWith is StartOn with the persistence schedule autosave in place of
// Autosave.
func StartWith(dir string, port int, autosave string, log io.Writer) (*Server, error) {
	if port == 0 {
		var err error
		if port, err = influxproc.FreePort(); err != nil {
			return nil, err
		}
	}
	return start(dir, port, "tcp", strings.Replace(fmt.Sprintf(Config, port, dir), Autosave, autosave, 1), log)
}

// Kill ends mosquitto with SIGKILL: no save on the way out, as in a crash
// or an OOM kill.
func (s *Server) Kill() {
	if s.stopped {
		return
	}
	s.stopped = true
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Stop interrupts mosquitto (which saves its persistence file on the
// way out), killing it if it does not stop in time. Stopping twice is fine.
func (s *Server) Stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// Pid is the broker's process id, for sampling its CPU and memory.
func (s *Server) Pid() int { return s.cmd.Process.Pid }
