package ingest

import (
	"fmt"
	"strings"
)

// TopicPrefix is the root of every riskmon topic.
const TopicPrefix = "riskmon/v1/"

// ReadingsFilter is the subscription that receives every JSON batch.
const ReadingsFilter = TopicPrefix + "+/+/readings"

// ParsedTopic is a readings topic split into its parts.
type ParsedTopic struct {
	Site, Gateway, Leaf string
}

// ParseTopic splits riskmon/v1/{site}/{gateway}/{leaf}. The parts are
// substrings of topic, so it does not allocate on success.
func ParseTopic(topic string) (ParsedTopic, error) {
	rest, ok := strings.CutPrefix(topic, TopicPrefix)
	if !ok {
		return ParsedTopic{}, fmt.Errorf("topic %q does not start with %q", topic, TopicPrefix)
	}
	site, rest, ok1 := strings.Cut(rest, "/")
	gw, leaf, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || site == "" || gw == "" || leaf == "" || strings.Contains(leaf, "/") {
		return ParsedTopic{}, fmt.Errorf("topic %q is not %s{site}/{gateway}/{leaf}", topic, TopicPrefix)
	}
	return ParsedTopic{Site: site, Gateway: gw, Leaf: leaf}, nil
}
