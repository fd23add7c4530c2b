// Package cluster runs riskmon as one of several instances on a NATS
// JetStream cluster. Gateways publish MQTT to any NATS node; a stream
// stores their messages under a subject that carries the partition of
// their site (a partition(N, site) subject transform), and each instance
// owns a share of the partitions through leases in a replicated
// key-value bucket whose entries expire on their own. An owner reads its
// partitions through one durable pull consumer each and acknowledges a
// message only once ingest has made it safe, so a message of an owner
// that dies is delivered again to the next one.
//
// The package knows nothing of readings: it hands each message to a
// function and exposes it as the MQTT topic and payload the gateway sent.
// docs/cluster.md explains the design and which JetStream guarantee
// gives what.
package cluster
