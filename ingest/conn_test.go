package ingest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// loopback is a TCP connection pair on 127.0.0.1: the client end wrapped
// in a bufferedConn, the server end plain.
func loopback(t *testing.T) (*bufferedConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv := <-accepted
	if srv == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { srv.Close() })
	return newBufferedConn(raw), srv
}

// TestBufferedConnOrderAndClose: everything written arrives, in order,
// and what still waits when Close is called is sent before the
// connection closes (the last PUBACKs and paho's DISCONNECT).
func TestBufferedConnOrderAndClose(t *testing.T) {
	c, srv := loopback(t)
	var want bytes.Buffer
	for i := range 5000 {
		p := []byte("packet " + strconv.Itoa(i) + ";")
		want.Write(p)
		if n, err := c.Write(p); err != nil || n != len(p) {
			t.Fatalf("write %d: n=%d err=%v", i, n, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(srv)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("received %d bytes, want %d, or out of order", len(got), want.Len())
	}
	if _, err := c.Write([]byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v, want net.ErrClosed", err)
	}
}

// TestBufferedConnReads: reads come through the buffer whole, whatever
// the size of each read.
func TestBufferedConnReads(t *testing.T) {
	c, srv := loopback(t)
	defer c.Close()
	msg := bytes.Repeat([]byte("0123456789"), 20000)
	go func() { _, _ = srv.Write(msg) }()
	got := make([]byte, len(msg))
	head := make([]byte, 1)
	if _, err := io.ReadFull(c, head); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, got[1:]); err != nil {
		t.Fatal(err)
	}
	got[0] = head[0]
	if !bytes.Equal(got, msg) {
		t.Fatal("read back differs from what was sent")
	}
}

// TestBufferedConnSendFails: once a send fails, Write reports the
// failure, so paho sees the broken connection.
func TestBufferedConnSendFails(t *testing.T) {
	c, srv := loopback(t)
	defer c.Close()
	srv.Close()
	_ = c.Conn.(*net.TCPConn).CloseWrite()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.Write([]byte("x")); err != nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("writes kept succeeding on a closed connection")
}
