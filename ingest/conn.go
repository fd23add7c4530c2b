package ingest

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/url"
	"os"
	"runtime"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"
)

// connReadBuffer is the read buffer of the broker connection: large
// enough that a burst of queued messages is taken in a few reads.
const connReadBuffer = 64 << 10

// bufferedSchemes are the broker URL schemes openBuffered dials; others
// (ws, wss, unix) are left to paho.
var bufferedSchemes = map[string]bool{
	"tcp": true, "mqtt": true,
	"ssl": true, "tls": true, "mqtts": true, "mqtt+ssl": true, "tcps": true,
}

// openBuffered opens the broker connection as paho does for TCP and TLS
// URLs (a proxy from the environment included) and buffers its reads.
// paho reads every packet's type and length a byte at a time from the
// connection, then its body: three or four read calls per message, which
// at saturation were the largest single cost of the collector. Through
// the buffer, a burst of messages takes one.
func openBuffered(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	dialer := o.Dialer
	if dialer == nil {
		dialer = &net.Dialer{Timeout: o.ConnectTimeout}
	}
	var conn net.Conn
	var err error
	switch uri.Scheme {
	case "tcp", "mqtt":
		conn, err = proxy.FromEnvironmentUsing(dialer).Dial("tcp", uri.Host)
	default:
		if os.Getenv("all_proxy") == "" {
			conn, err = tls.DialWithDialer(dialer, "tcp", uri.Host, o.TLSConfig)
			break
		}
		if conn, err = proxy.FromEnvironment().Dial("tcp", uri.Host); err != nil {
			break
		}
		tc := tls.Client(conn, o.TLSConfig)
		if err = tc.Handshake(); err != nil {
			_ = conn.Close()
			break
		}
		conn = tc
	}
	if err != nil {
		return nil, err
	}
	return newBufferedConn(conn), nil
}

// connWriteLimit is how much written data may wait to be sent before
// Write waits for the sender.
const connWriteLimit = 256 << 10

// closeFlush bounds how long Close waits for written data to be sent.
const closeFlush = time.Second

// bufferedConn buffers a connection's reads, and sends its writes from a
// goroutine of its own, so that the packets paho writes one at a time
// while a send is under way leave together in the next. The PUBACKs of
// one spool commit come as a burst, one write call each otherwise.
// A PUBACK is still sent only after its message is durable: Ack is
// called no earlier, and the send follows at once.
//
// A failed send fails every later Write, so paho sees the broken
// connection as it would have; what was not sent is unacknowledged, and
// the broker delivers it again. Close sends what waits first, for at most
// closeFlush.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader

	mu      sync.Mutex
	changed *sync.Cond // out emptied, or a send failed
	out     []byte     // written, not yet handed to the sender
	sending bool       // the sender holds a batch
	err     error      // the first failed send, or net.ErrClosed
	wake    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newBufferedConn(conn net.Conn) *bufferedConn {
	c := &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, connReadBuffer),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	c.changed = sync.NewCond(&c.mu)
	go c.send()
	return c
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Write queues p for the sender and returns at once, unless too much
// waits already.
func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	for c.err == nil && len(c.out) >= connWriteLimit {
		c.changed.Wait()
	}
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	c.out = append(c.out, p...)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default: // a wake-up is pending, or the sender's loop will see out
	}
	return len(p), nil
}

// send writes what waits, all of it in one call, until Close.
func (c *bufferedConn) send() {
	var batch []byte
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		// Let the writers that are ready run first. A commit's PUBACKs
		// reach Write one by one from paho's goroutine, and a sender
		// woken by the first sent each alone: one write call per
		// message, on both cores, and as many reads in the broker.
		runtime.Gosched()
		c.mu.Lock()
		for len(c.out) > 0 && c.err == nil {
			batch, c.out = c.out, batch[:0]
			c.sending = true
			c.mu.Unlock()
			_, err := c.Conn.Write(batch)
			c.mu.Lock()
			c.sending = false
			if err != nil && c.err == nil {
				c.err = err
			}
		}
		c.changed.Broadcast()
		c.mu.Unlock()
	}
}

// Close sends what waits (the last acknowledgements, paho's DISCONNECT),
// giving up after closeFlush, then closes the connection.
func (c *bufferedConn) Close() error {
	c.once.Do(func() {
		stuck := time.AfterFunc(closeFlush, func() { _ = c.Conn.Close() })
		defer stuck.Stop()
		c.mu.Lock()
		for c.err == nil && (len(c.out) > 0 || c.sending) {
			c.changed.Wait()
		}
		if c.err == nil {
			c.err = net.ErrClosed
		}
		c.changed.Broadcast()
		c.mu.Unlock()
		close(c.done)
	})
	return c.Conn.Close()
}
