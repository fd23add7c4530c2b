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
	"testing"
	"time"

	"github.com/riskmon/riskmon/internal/broker"
	"github.com/riskmon/riskmon/internal/influxproc"
	"github.com/riskmon/riskmon/internal/mosquittoproc"
	"github.com/riskmon/riskmon/internal/natsproc"
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

// Mosquitto starts a Mosquitto process with its own config file, saving
// its database on a timer rather than after every 1,000 changes as
// shipped: the load tests need a broker that outruns riskmon so that its
// worker queues overflow and redelivery is exercised, and the shipped
// crash-safe schedule is tested by the broker-crash fault tests in
// internal/faults.
func Mosquitto(t testing.TB) Broker {
	t.Helper()
	log := &syncWriter{b: new(bytes.Buffer)}
	s, err := mosquittoproc.StartWith(t.TempDir(), 0, mosquittoproc.IntervalAutosave, log)
	if err != nil {
		t.Fatalf("Mosquitto is required: %v\n%s", err, log.String())
	}
	t.Cleanup(s.Stop)
	return Broker{Name: "mosquitto", URL: s.URL}
}

// Brokers starts one of each broker for suites that must pass on both.
func Brokers(t testing.TB) []Broker {
	t.Helper()
	return []Broker{Embedded(t), Mosquitto(t)}
}

// NeedNATS fails the test unless nats-server is installed (make deps puts
// it in .state/bin), as the other servers' helpers do.
func NeedNATS(t testing.TB) {
	t.Helper()
	if _, err := natsproc.FindBinary(); err != nil {
		t.Fatalf("nats-server is required (make deps installs it): %v", err)
	}
}
