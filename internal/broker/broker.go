// Package broker runs the embedded MQTT broker that makes riskmon work
// with nothing installed: `make run`, the demo and the tests use it. Sites
// in production point gateways and riskmon at their own broker instead.
package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"github.com/mochi-mqtt/server/v2/listeners"
	bbolt "go.etcd.io/bbolt"
)

// Options configure the embedded broker.
type Options struct {
	// Addr to listen on; "127.0.0.1:0" picks a free port.
	Addr string
	// StorePath, when set, keeps sessions, in-flight and retained
	// messages in a bolt file so a restart loses none of them.
	StorePath string
	Log       *slog.Logger
}

// Broker is a running embedded broker.
type Broker struct {
	srv  *mqtt.Server
	addr string
}

// Start listens and serves in the background.
func Start(o Options) (*Broker, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	// Resolve a free port now so callers can print the address.
	l, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("broker listen %s: %w", o.Addr, err)
	}
	addr := l.Addr().String()
	l.Close()

	caps := mqtt.NewDefaultServerCapabilities()
	// QoS 1 messages the broker holds for one client: far above the
	// collector's batch so acknowledgements gated on storage never
	// starve the window.
	caps.MaximumInflight = 65535
	caps.MaximumClientWritesPending = 64 * 1024
	srv := mqtt.New(&mqtt.Options{Capabilities: caps, Logger: o.Log, InlineClient: false})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("broker auth hook: %w", err)
	}
	if o.StorePath != "" {
		if err := srv.AddHook(new(bolt.Hook), &bolt.Options{Path: o.StorePath, Options: &bbolt.Options{Timeout: 0}}); err != nil {
			return nil, fmt.Errorf("broker store %s: %w", o.StorePath, err)
		}
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})); err != nil {
		return nil, fmt.Errorf("broker listener %s: %w", addr, err)
	}
	go func() {
		if err := srv.Serve(); err != nil {
			o.Log.Error("embedded broker stopped", "err", err)
		}
	}()
	return &Broker{srv: srv, addr: addr}, nil
}

// Addr is host:port.
func (b *Broker) Addr() string { return b.addr }

// URL is the broker address as paho wants it.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Close stops the broker. mochi's Close can block for good when a client
// is disconnecting at the same moment (seen with v2.7.9 in stress runs),
// so it gets a few seconds and is then abandoned rather than hanging the
// caller's shutdown.
func (b *Broker) Close() error {
	done := make(chan error, 1)
	go func() { done <- b.srv.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		return errors.New("embedded broker did not close within 5s; abandoned")
	}
}
