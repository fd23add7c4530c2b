package cluster

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskmon/riskmon/protocol"
)

// Subjects: the NATS MQTT listener publishes an MQTT topic a/b/c on the
// NATS subject a.b.c (a '.' inside a level becomes "//") and, for QoS 1,
// stores it in its own stream $MQTT_msgs as $MQTT.msgs.a.b.c before it
// sends the PUBACK. riskmon's stream sources the gateway topics
// riskmon/v1/{site}/{gateway}/{leaf} from there and stores each as
// rmp.{partition}.riskmon.v1.{site}.{gateway}.{leaf}, the partition
// computed by the server from the site token.
const (
	// mqttStream is nats-server's stream of QoS 1 MQTT messages, and
	// mqttPrefix the prefix of its subjects.
	mqttStream = "$MQTT_msgs"
	mqttPrefix = "$MQTT.msgs."
	// partitionPrefix starts every stored subject.
	partitionPrefix = "rmp"
	// partitionsKey is the stream metadata that records the partition
	// count, so an instance configured with another is refused.
	partitionsKey = "riskmon_partitions"
)

// gatewayLeaves are the last levels of the topics gateways publish; the
// stream takes in those alone, so that riskmon's own alert topics
// (riskmon/v1/alerts/{site}/{level}) stay out of it.
var gatewayLeaves = []string{protocol.LeafReadings, protocol.LeafLP, protocol.LeafStatus}

// sourceFilters are the $MQTT_msgs subjects the stream takes in.
func sourceFilters() []string {
	out := make([]string, 0, len(gatewayLeaves))
	for _, l := range gatewayLeaves {
		out = append(out, mqttPrefix+"riskmon.v1.*.*."+l)
	}
	return out
}

// sourceTransforms store each gateway leaf's messages under their site's
// partition: partition(N, 1) hashes the first wildcard, the site.
func sourceTransforms(partitions int) []jetstream.SubjectTransformConfig {
	out := make([]jetstream.SubjectTransformConfig, 0, len(gatewayLeaves))
	for i, src := range sourceFilters() {
		out = append(out, jetstream.SubjectTransformConfig{Source: src,
			Destination: fmt.Sprintf("%s.{{partition(%d,1)}}.riskmon.v1.{{wildcard(1)}}.{{wildcard(2)}}.%s", partitionPrefix, partitions, gatewayLeaves[i])})
	}
	return out
}

// Sparkplug B: edge nodes publish DATA (and usually BIRTH) at QoS 0, as
// the specification has it, so those messages never reach $MQTT_msgs.
// They are taken from the MQTT listener's plain NATS publishes instead,
// into a capture stream of their own (any QoS: a QoS 1 message is
// published there too, and taking it from one place alone stores it
// once), and sourced into the partitioned stream by their group, which
// is riskmon's site.
const (
	// spbSubjectPrefix is the Sparkplug namespace spBv1.0 as a subject
	// token: the listener writes the '.' inside a level as "//".
	spbSubjectPrefix = "spBv1//0"
)

// spbTypes are the Sparkplug message types the capture stream keeps,
// with the number of levels after the type: the edge node, and the
// device for device messages. STATE and the commands (riskmon's own
// rebirth requests among them) carry no readings and stay out.
var spbTypes = []struct {
	name   string
	levels int
}{
	{"NBIRTH", 1}, {"NDATA", 1}, {"NDEATH", 1},
	{"DBIRTH", 2}, {"DDATA", 2}, {"DDEATH", 2},
}

// spbCaptureSubjects are the plain subjects the capture stream listens on.
func spbCaptureSubjects() []string {
	out := make([]string, 0, len(spbTypes))
	for _, t := range spbTypes {
		out = append(out, spbSubjectPrefix+".*."+t.name+strings.Repeat(".*", t.levels))
	}
	return out
}

// spbTransforms store each Sparkplug message under its group's
// partition: partition(N, 1) hashes the group token as the gateway
// topics' transform hashes the site token, so a site's Sparkplug and
// riskmon/v1 messages share one partition and one owner.
func spbTransforms(partitions int) []jetstream.SubjectTransformConfig {
	out := make([]jetstream.SubjectTransformConfig, 0, len(spbTypes))
	for i, src := range spbCaptureSubjects() {
		dst := fmt.Sprintf("%s.{{partition(%d,1)}}.%s.{{wildcard(1)}}.%s", partitionPrefix, partitions, spbSubjectPrefix, spbTypes[i].name)
		for l := range spbTypes[i].levels {
			dst += fmt.Sprintf(".{{wildcard(%d)}}", l+2)
		}
		out = append(out, jetstream.SubjectTransformConfig{Source: src, Destination: dst})
	}
	return out
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
