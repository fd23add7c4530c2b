package simulator

import (
	"log/slog"
	"slices"
	"testing"
	"time"
)

func TestBrokerURLs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"tcp://127.0.0.1:1883", []string{"tcp://127.0.0.1:1883"}},
		{"tcp://a:1883, tcp://b:1883,tcp://c:1883", []string{"tcp://a:1883", "tcp://b:1883", "tcp://c:1883"}},
		{" , ", nil},
		{"", nil},
	} {
		if got := brokerURLs(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("brokerURLs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	o := clientOptions("tcp://a:1883,tcp://b:1883", "gw", time.Second, slog.New(slog.DiscardHandler))
	if len(o.Servers) != 2 || o.Servers[1].Host != "b:1883" {
		t.Errorf("client servers %v, want both nodes in order", o.Servers)
	}
	if _, err := NewPublisher(Options{Broker: " , "}); err == nil {
		t.Error("a list of no broker URLs accepted")
	}
}
