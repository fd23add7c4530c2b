package app

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
)

// limitedServer runs the service on a loopback port, with short HTTP
// timeouts so the test need not wait for the shipped ones.
func limitedServer(t *testing.T, edit func(*config.HTTP)) (*Service, string) {
	t.Helper()
	svc := quietService(t, func(c *config.Config) {
		offline(c)
		c.HTTP.ReadTimeout, c.HTTP.WriteTimeout, c.HTTP.IdleTimeout = time.Second, time.Second, time.Second
		c.HTTP.MaxConnections = 4
		c.HTTP.MaxBodyBytes = 4096
		if edit != nil {
			edit(&c.HTTP)
		}
	})
	addr, err := svc.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(runService(t, svc))
	return svc, addr
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedByServer reads until the server closes the connection, within
// limit; it fails the test if the connection is still open then.
func closedByServer(t *testing.T, c net.Conn, limit time.Duration, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("%s: the connection was still open after %v", what, limit)
	}
}

// TestHTTPSlowBody: a body sent a byte at a time is cut off by the read
// timeout instead of holding the connection (it was still read after 62 s).
func TestHTTPSlowBody(t *testing.T) {
	_, addr := limitedServer(t, nil)
	c := dial(t, addr)
	fmt.Fprintf(c, "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for range 999 { // 100 s at this pace
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := c.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	closedByServer(t, c, 20*time.Second, "slow body")
}

// TestHTTPIdleConnection: a kept-alive connection with no next request is
// closed (they stayed open past 75 s).
func TestHTTPIdleConnection(t *testing.T) {
	_, addr := limitedServer(t, nil)
	c := dial(t, addr)
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, "200") {
		t.Fatalf("healthz: %q %v", status, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.Copy(io.Discard, br)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatal("idle kept-alive connection still open after 20 s")
	}
}

// TestHTTPConnectionCap: connections held open without a request take the
// cap; a further client waits until one of them goes, instead of the
// server taking connections without limit (500 were taken).
func TestHTTPConnectionCap(t *testing.T) {
	_, addr := limitedServer(t, func(h *config.HTTP) { h.MaxConnections = 4 })
	var held []net.Conn
	for range 20 {
		held = append(held, dial(t, addr))
	}
	// Let the server accept what it will.
	time.Sleep(300 * time.Millisecond)
	c := dial(t, addr)
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || n > 0 {
		t.Fatal("a client beyond the connection cap was served while the cap was held")
	}
	for _, h := range held {
		_ = h.Close()
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(status, "200") {
		t.Fatalf("once the held connections closed: %q %v", status, err)
	}
}

// TestHTTPBodyCap: a body declared longer than the cap is refused with 413
// before it is read.
func TestHTTPBodyCap(t *testing.T) {
	_, addr := limitedServer(t, nil)
	c := dial(t, addr)
	fmt.Fprintf(c, "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n{")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(status, "413") {
		t.Fatalf("oversized body: %q %v", status, err)
	}
}

// TestHTTPStreamOutlivesTimeouts: the console's event stream is exempt
// from the read and write timeouts: it stays open past both and carries
// an alert raised after them.
func TestHTTPStreamOutlivesTimeouts(t *testing.T) {
	svc, addr := limitedServer(t, nil)
	c := dial(t, addr)
	fmt.Fprintf(c, "GET /api/v1/stream?readings=none HTTP/1.1\r\nHost: x\r\n\r\n")
	got := make(chan string, 1)
	go func() {
		br := bufio.NewReader(c)
		var seen strings.Builder
		for {
			line, err := br.ReadString('\n')
			seen.WriteString(line)
			if err != nil || strings.HasPrefix(line, "event: alert") {
				got <- seen.String()
				return
			}
		}
	}()
	time.Sleep(2500 * time.Millisecond) // past both 1 s timeouts
	at := time.Now()
	svc.Evaluate([]sensors.Reading{{Site: "hz-01", Sensor: "GT-101", Kind: "combustible_gas", Value: 60, Time: at, Received: at}})
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	select {
	case s := <-got:
		if !strings.Contains(s, "event: alert") {
			t.Fatalf("stream ended without the alert:\n%s", s)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("no alert on the stream")
	}
}
