// Package testenv starts the real servers integration tests need —
// InfluxDB 1.8, Mosquitto and the embedded broker — on free loopback
// ports in temporary folders, and stops them when the test ends. A
// missing server binary fails the test with the command that installs
// it: `make test` installs everything first, so a skip would only hide a
// broken setup.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskmon/riskmon/internal/broker"
	"github.com/riskmon/riskmon/internal/influxproc"
)

// Influx starts influxd with a "riskmon" database.
func Influx(t testing.TB) *influxproc.Server {
	t.Helper()
	bin, err := influxproc.FindBinary()
	if err != nil {
		t.Fatalf("InfluxDB is required: %v", err)
	}
	log := &syncWriter{b: new(bytes.Buffer)}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s, err := influxproc.Start(ctx, influxproc.Options{Binary: bin, Dir: t.TempDir(), Database: "riskmon", Log: log})
	if err != nil {
		t.Fatalf("start influxd: %v\n%s", err, log.String())
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop influxd: %v", err)
		}
	})
	return s
}

// Broker is an MQTT broker for a test.
type Broker struct {
	Name string
	URL  string
}

// Embedded starts the embedded mochi broker.
func Embedded(t testing.TB) Broker {
	t.Helper()
	b, err := broker.Start(broker.Options{})
	if err != nil {
		t.Fatalf("embedded broker: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return Broker{Name: "embedded", URL: b.URL()}
}

// MosquittoConfig is the broker configuration the tests and
// deploy/mosquitto use: persistence on, and queue and in-flight limits
// raised far above the defaults, which drop QoS 1 messages under load.
const MosquittoConfig = `listener %d 127.0.0.1
allow_anonymous true
persistence true
persistence_location %s/
autosave_interval 60
max_inflight_messages 1000
max_queued_messages 1000000
max_queued_bytes 0
max_packet_size 1048576
log_dest stderr
log_type error
log_type warning
`

// Mosquitto starts a Mosquitto process with its own config file.
func Mosquitto(t testing.TB) Broker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/mosquitto"); serr == nil {
			bin = "/usr/sbin/mosquitto"
		} else {
			t.Fatalf("Mosquitto is required: install it with `apt-get install -y mosquitto` (make deps does this as root): %v", err)
		}
	}
	dir := t.TempDir()
	port, err := influxproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(MosquittoConfig, port, dir)
	if os.Geteuid() == 0 {
		// As root Mosquitto drops to the mosquitto user, which cannot
		// write to our temporary folder.
		conf += "user root\n"
	}
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	log := &syncWriter{b: new(bytes.Buffer)}
	cmd := exec.Command(bin, "-c", path)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("mosquitto exited: %v\n%s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto not listening on %s: %v\n%s", addr, err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return Broker{Name: "mosquitto", URL: "tcp://" + addr}
}

// Brokers starts one of each broker for suites that must pass on both.
func Brokers(t testing.TB) []Broker {
	t.Helper()
	return []Broker{Embedded(t), Mosquitto(t)}
}
