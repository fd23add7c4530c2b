package protocol

import (
	"fmt"
	"strings"
)

// TopicPrefix is the root of every riskmon topic.
const TopicPrefix = "riskmon/v1/"

// Leaves are the last level of a gateway's topics: they say what the
// payload holds.
const (
	LeafReadings = "readings" // a JSON batch
	LeafLP       = "lp"       // InfluxDB line protocol
	LeafStatus   = "status"   // StatusOnline or StatusOffline, retained
)

// Filters receive one kind of gateway message from every site and gateway.
const (
	ReadingsFilter = TopicPrefix + "+/+/" + LeafReadings
	LPFilter       = TopicPrefix + "+/+/" + LeafLP
	StatusFilter   = TopicPrefix + "+/+/" + LeafStatus
)

// Payloads of a status topic. A gateway publishes StatusOnline when it
// connects and sets StatusOffline as its MQTT will.
const (
	StatusOnline  = "online"
	StatusOffline = "offline"
)

// Topic builds riskmon/v1/{site}/{gateway}/{leaf}.
func Topic(site, gateway, leaf string) string {
	return TopicPrefix + site + "/" + gateway + "/" + leaf
}

// ReadingsTopic is where a gateway publishes its JSON batches.
func ReadingsTopic(site, gateway string) string { return Topic(site, gateway, LeafReadings) }

// LPTopic is where a gateway publishes line protocol.
func LPTopic(site, gateway string) string { return Topic(site, gateway, LeafLP) }

// StatusTopic is where a gateway's retained online/offline state lives.
func StatusTopic(site, gateway string) string { return Topic(site, gateway, LeafStatus) }

// ParsedTopic is a gateway topic split into its parts.
type ParsedTopic struct {
	Site, Gateway, Leaf string
}

// ParseTopic splits riskmon/v1/{site}/{gateway}/{leaf}. The parts are
// substrings of topic, so it does not allocate on success. It does not
// judge the leaf: which leaves a receiver takes is its own business.
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
