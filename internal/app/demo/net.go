package demo

import "net"

// freeOr returns addr when it can be bound, else a free loopback address,
// so a second demo or a system broker on 1883 does not stop the demo.
func freeOr(addr string) string {
	l, err := net.Listen("tcp", addr)
	if err == nil {
		l.Close()
		return addr
	}
	return "127.0.0.1:0"
}

func host(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
