// Package sparkplug takes Eclipse Sparkplug B messages from edge nodes and
// turns their metrics into readings (see docs/protocol.md, "Sparkplug B").
//
// riskmon maps the Sparkplug topic onto its own model: group_id is the
// site and edge_node_id the gateway. A Result carries each metric's name
// and its message's device_id; ingest finds the sensor by the pair (the
// registry's Sparkplug address), or else by the name alone.
//
// Sparkplug is stateful: DATA messages usually name their metrics by an
// alias that only the last BIRTH message defined. A Tracker holds that
// state per edge node.
package sparkplug

import (
	"fmt"
	"github.com/riskmon/riskmon/protocol"
	"strings"
)

// Namespace is the first topic level of every Sparkplug B message.
const Namespace = "spBv1.0"

// Filter is the subscription that receives every Sparkplug B message.
const Filter = Namespace + "/#"

// MessageType is the message_type level of a Sparkplug topic.
type MessageType uint8

// Message types of Sparkplug B. The zero value is no type.
const (
	NBIRTH MessageType = iota + 1 // edge node birth certificate
	NDEATH                        // edge node death certificate
	DBIRTH                        // device birth certificate
	DDEATH                        // device death certificate
	NDATA                         // edge node data
	DDATA                         // device data
	NCMD                          // command to an edge node
	DCMD                          // command to a device
	STATE                         // host application state
)

var typeNames = [...]string{"", "NBIRTH", "NDEATH", "DBIRTH", "DDEATH", "NDATA", "DDATA", "NCMD", "DCMD", "STATE"}

func (t MessageType) String() string {
	if t > 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("MessageType(%d)", t)
}

// isDevice reports whether messages of type t are about a device and so
// carry a device_id level.
func (t MessageType) isDevice() bool {
	return t == DBIRTH || t == DDEATH || t == DDATA || t == DCMD
}

// Topic is a Sparkplug topic split into its levels.
type Topic struct {
	Type   MessageType
	Group  string // group_id: riskmon's site
	Edge   string // edge_node_id: riskmon's gateway
	Device string // device_id, only for DBIRTH, DDEATH, DDATA and DCMD
	Host   string // sparkplug_host_id, only for STATE
}

// NodeTopic is the topic of an edge node message of type typ,
// spBv1.0/{group_id}/{message_type}/{edge_node_id}; in riskmon's terms the
// group is the site and the edge node the gateway.
func NodeTopic(group string, typ MessageType, edge string) string {
	return Namespace + "/" + group + "/" + typ.String() + "/" + edge
}

// ParseTopic splits
//
//	spBv1.0/{group_id}/{message_type}/{edge_node_id}[/{device_id}]
//	spBv1.0/STATE/{sparkplug_host_id}
//
// The device_id level is required for device message types and refused
// for the others. The parts are substrings of topic, so ParseTopic does
// not allocate on success. Errors are *protocol.Error with ReasonBadTopic.
func ParseTopic(topic string) (Topic, error) {
	rest, ok := strings.CutPrefix(topic, Namespace+"/")
	if !ok {
		return Topic{}, topicError(topic, "does not start with "+Namespace+"/")
	}
	if host, ok := strings.CutPrefix(rest, "STATE/"); ok {
		if host == "" || strings.Contains(host, "/") {
			return Topic{}, topicError(topic, "is not "+Namespace+"/STATE/{sparkplug_host_id}")
		}
		return Topic{Type: STATE, Host: host}, nil
	}
	// At most five levels: a sixth stays in device and is refused below.
	group, rest, _ := strings.Cut(rest, "/")
	typ, rest, _ := strings.Cut(rest, "/")
	edge, device, hasDevice := strings.Cut(rest, "/")
	if group == "" || typ == "" || edge == "" {
		return Topic{}, topicError(topic, "is not "+Namespace+"/{group_id}/{message_type}/{edge_node_id}[/{device_id}]")
	}
	t := Topic{Group: group, Edge: edge, Device: device}
	for i, n := range typeNames {
		if n != "" && n == typ {
			t.Type = MessageType(i)
		}
	}
	switch {
	case t.Type == 0 || t.Type == STATE:
		return Topic{}, topicError(topic, fmt.Sprintf("has unknown message type %q", typ))
	case t.Type.isDevice() && (device == "" || strings.Contains(device, "/")):
		return Topic{}, topicError(topic, fmt.Sprintf("is not %s/{group_id}/%s/{edge_node_id}/{device_id}", Namespace, typ))
	case !t.Type.isDevice() && hasDevice:
		return Topic{}, topicError(topic, fmt.Sprintf("has a device_id level, which %s messages do not", typ))
	}
	return t, nil
}

func topicError(topic, msg string) error {
	return &protocol.Error{Reason: ReasonBadTopic, Msg: fmt.Sprintf("topic %q %s", topic, msg)}
}
