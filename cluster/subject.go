package cluster

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/riskmon/riskmon/protocol"
)

// Subjects: the NATS MQTT listener publishes an MQTT topic a/b/c on the
// NATS subject a.b.c (a '.' inside a level becomes "//"). The stream
// captures riskmon/v1/{site}/{gateway}/{leaf} and stores it as
// rmp.{partition}.riskmon.v1.{site}.{gateway}.{leaf}, the partition
// computed by the server from the site token.
const (
	// captured matches every riskmon/v1 gateway topic; the stream takes
	// in those of gatewayLeaves, so that riskmon's own alert topics
	// (riskmon/v1/alerts/{site}/{level}) stay out of it.
	captured = "riskmon.v1.*.*.*"
	// partitionPrefix starts every stored subject.
	partitionPrefix = "rmp"
	// partitionsKey is the stream metadata that records the partition
	// count, so an instance configured with another is refused.
	partitionsKey = "riskmon_partitions"
)

// gatewayLeaves are the last levels of the topics gateways publish.
var gatewayLeaves = []string{protocol.LeafReadings, protocol.LeafLP, protocol.LeafStatus}

// streamSubjects are the subjects the stream takes in.
func streamSubjects() []string {
	out := make([]string, 0, len(gatewayLeaves))
	for _, l := range gatewayLeaves {
		out = append(out, "riskmon.v1.*.*."+l)
	}
	return out
}

// transformDest stores a captured subject under its site's partition.
func transformDest(partitions int) string {
	return fmt.Sprintf("%s.{{partition(%d,1)}}.riskmon.v1.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}", partitionPrefix, partitions)
}

// partitionFilter is the subject filter of partition p's consumer.
func partitionFilter(p int) string { return partitionPrefix + "." + strconv.Itoa(p) + ".>" }

// PartitionOf is the partition the server puts a site in: FNV-1a of the
// site's subject token modulo the partition count, as nats-server's
// partition() transform computes it.
func PartitionOf(site string, partitions int) int {
	if partitions <= 0 {
		return 0
	}
	h := uint32(2166136261)
	tok := topicToSubject(site)
	for i := 0; i < len(tok); i++ {
		h ^= uint32(tok[i])
		h *= 16777619
	}
	return int(h % uint32(partitions))
}

// topicToSubject turns an MQTT topic into the NATS subject the MQTT
// listener publishes it on.
func topicToSubject(topic string) string {
	var b strings.Builder
	for i := 0; i < len(topic); i++ {
		switch topic[i] {
		case '/':
			b.WriteByte('.')
		case '.':
			b.WriteString("//")
		default:
			b.WriteByte(topic[i])
		}
	}
	return b.String()
}

// subjectToTopic turns a stored subject back into the MQTT topic the
// gateway published: the partition prefix dropped, "//" back to '.',
// '.' back to '/'. ok is false for a subject not under the prefix.
func subjectToTopic(subject string) (topic string, ok bool) {
	rest, ok := strings.CutPrefix(subject, partitionPrefix+".")
	if !ok {
		return "", false
	}
	_, rest, ok = strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(rest))
	for i := 0; i < len(rest); i++ {
		switch {
		case rest[i] == '/' && i+1 < len(rest) && rest[i+1] == '/':
			b.WriteByte('.')
			i++
		case rest[i] == '.':
			b.WriteByte('/')
		default:
			b.WriteByte(rest[i])
		}
	}
	return b.String(), true
}
