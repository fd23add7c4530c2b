package protocol

import (
	"strings"
	"testing"
)

func TestParseTopic(t *testing.T) {
	tests := []struct {
		topic string
		want  ParsedTopic
		ok    bool
	}{
		{"riskmon/v1/hz-01/gw-1/readings", ParsedTopic{"hz-01", "gw-1", "readings"}, true},
		{"riskmon/v1/hz-01/gw-1/status", ParsedTopic{"hz-01", "gw-1", "status"}, true},
		{"riskmon/v1/hz-01/readings", ParsedTopic{}, false},
		{"riskmon/v1//gw/readings", ParsedTopic{}, false},
		{"riskmon/v1/a/b/c/d", ParsedTopic{}, false},
		{"other/v1/a/b/readings", ParsedTopic{}, false},
	}
	for _, tt := range tests {
		got, err := ParseTopic(tt.topic)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseTopic(%q) = %+v, %v; want %+v ok=%v", tt.topic, got, err, tt.want, tt.ok)
		}
	}
}

// TestTopicsRoundTrip: what a gateway builds, a receiver parses back into
// the same parts, and the filters it subscribes to match it.
func TestTopicsRoundTrip(t *testing.T) {
	tests := []struct {
		topic, leaf, filter string
	}{
		{ReadingsTopic("hz-01", "gw-1"), LeafReadings, ReadingsFilter},
		{LPTopic("hz-01", "gw-1"), LeafLP, LPFilter},
		{StatusTopic("hz-01", "gw-1"), LeafStatus, StatusFilter},
	}
	for _, tt := range tests {
		if want := "riskmon/v1/hz-01/gw-1/" + tt.leaf; tt.topic != want {
			t.Errorf("built %q, want %q", tt.topic, want)
		}
		got, err := ParseTopic(tt.topic)
		if err != nil || got != (ParsedTopic{"hz-01", "gw-1", tt.leaf}) {
			t.Errorf("ParseTopic(%q) = %+v, %v", tt.topic, got, err)
		}
		if !matches(tt.filter, tt.topic) {
			t.Errorf("filter %q does not match %q", tt.filter, tt.topic)
		}
	}
}

// matches is MQTT topic matching for filters with single-level wildcards.
func matches(filter, topic string) bool {
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		l, trest, tmore := strings.Cut(topic, "/")
		if f != "+" && f != l || fmore != tmore {
			return false
		}
		if !fmore {
			return true
		}
		filter, topic = frest, trest
	}
}
