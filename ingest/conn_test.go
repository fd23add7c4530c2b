package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
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

// TestBufferedConnPuback: PUBACKs written straight onto the connection
// from several goroutines, while paho writes its own packets, each reach
// the broker whole and read back as the PUBACK of their packet id; after
// Close a PUBACK fails and is not sent.
func TestBufferedConnPuback(t *testing.T) {
	c, srv := loopback(t)
	const ackers, perAcker, publishes = 4, 500, 200
	var wg sync.WaitGroup
	for a := range ackers {
		wg.Go(func() {
			for i := range perAcker {
				if err := c.puback(uint16(a*perAcker + i + 1)); err != nil {
					t.Errorf("puback: %v", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range publishes {
			p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
			p.TopicName, p.Qos, p.MessageID = "riskmon/v1/hz-01/gw-1/readings", 1, uint16(i+1)
			p.Payload = bytes.Repeat([]byte{'x'}, 100+i)
			if err := p.Write(c); err != nil {
				t.Errorf("publish: %v", err)
				return
			}
		}
	})
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := c.puback(9999); err == nil {
		t.Error("puback after close succeeded")
	}
	_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(srv)
	acked := map[uint16]bool{}
	published := 0
	for {
		cp, err := packets.ReadPacket(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %d PUBACKs and %d PUBLISHes: %v", len(acked), published, err)
		}
		switch p := cp.(type) {
		case *packets.PubackPacket:
			if acked[p.MessageID] {
				t.Errorf("PUBACK %d sent twice", p.MessageID)
			}
			acked[p.MessageID] = true
		case *packets.PublishPacket:
			if len(p.Payload) != 100+int(p.MessageID)-1 {
				t.Errorf("PUBLISH %d carries %d bytes, want %d", p.MessageID, len(p.Payload), 100+int(p.MessageID)-1)
			}
			published++
		default:
			t.Fatalf("unexpected packet %s", cp)
		}
	}
	if len(acked) != ackers*perAcker || published != publishes || acked[9999] {
		t.Errorf("read %d PUBACKs (9999 among them: %v) and %d PUBLISHes, want %d and %d", len(acked), acked[9999], published, ackers*perAcker, publishes)
	}
}
