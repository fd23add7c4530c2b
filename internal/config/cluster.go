package config

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/riskmon/riskmon/cluster"
)

// Cluster runs this instance as one of several on a NATS JetStream
// cluster (docs/cluster.md). With no urls riskmon runs single-node on
// mqtt.broker, as before.
type Cluster struct {
	// URLs are NATS client URLs (nats://, tls://); one reachable node is
	// enough.
	URLs []string `yaml:"urls"`
	// CredentialsFile is a NATS .creds file (user JWT and NKey seed).
	CredentialsFile string `yaml:"credentials_file"`
	TLS             TLS    `yaml:"tls"`
	// InstanceID names this instance in the lease bucket; default the
	// host name. Two live instances must not share one.
	InstanceID string `yaml:"instance_id"`
	// Partitions sites are hashed into (default 16); fixed when the
	// stream is created, the same on every instance.
	Partitions int `yaml:"partitions"`
	// Replicas of the stream, its consumers and the lease bucket: 1, 3
	// (default) or 5.
	Replicas int `yaml:"replicas"`
	// Stream and Bucket name the JetStream stream and lease bucket
	// (default RISKMON and riskmon_leases).
	Stream string `yaml:"stream"`
	Bucket string `yaml:"bucket"`
	// LeaseTTL is how long a partition stays with an instance that stopped
	// renewing (default 3s): the bound on a takeover.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// AckWait is how long a message handed to an instance waits for its
	// acknowledgement before another delivery (default 5s).
	AckWait time.Duration `yaml:"ack_wait"`
	// MaxAckPending bounds one partition's unacknowledged messages
	// (default 4096).
	MaxAckPending int `yaml:"max_ack_pending"`
	// MaxAge is how long the stream keeps a message (default 72h).
	MaxAge time.Duration `yaml:"max_age"`
}

// ClusterMode reports whether the configuration has a cluster section
// with NATS URLs.
func (c *Config) ClusterMode() bool { return len(c.Cluster.URLs) > 0 }

// clusterProblems checks the cluster section, when there is one.
func (c *Config) clusterProblems(add func(key, msg string)) {
	if !c.ClusterMode() {
		return
	}
	k := c.Cluster
	for i, u := range k.URLs {
		if !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") && !strings.HasPrefix(u, "ws://") && !strings.HasPrefix(u, "wss://") {
			add(fmt.Sprintf("cluster.urls[%d]", i), fmt.Sprintf("cluster.urls[%d] %q is not a NATS URL (nats://host:4222, tls://…, ws://…)", i, u))
		}
	}
	if k.InstanceID != "" && !cluster.ValidName(k.InstanceID) {
		add("cluster.instance_id", fmt.Sprintf("cluster.instance_id %q: use 1 to 64 letters, digits, '-' or '_'", k.InstanceID))
	}
	if k.Partitions < 0 || k.Partitions > cluster.MaxPartitions {
		add("cluster.partitions", fmt.Sprintf("cluster.partitions %d: between 1 and %d", k.Partitions, cluster.MaxPartitions))
	}
	if k.Replicas != 0 && k.Replicas != 1 && k.Replicas != 3 && k.Replicas != 5 {
		add("cluster.replicas", fmt.Sprintf("cluster.replicas %d: 1, 3 or 5 (3 survives the loss of one NATS node)", k.Replicas))
	}
	if (k.Stream != "" && !cluster.ValidName(k.Stream)) || (k.Bucket != "" && !cluster.ValidName(k.Bucket)) {
		add(cmp.Or(keyIf(k.Stream != "" && !cluster.ValidName(k.Stream), "cluster.stream"), "cluster.bucket"),
			"cluster.stream and cluster.bucket: use 1 to 64 letters, digits, '-' or '_'")
	}
	if (k.LeaseTTL != 0 && k.LeaseTTL < time.Second) || (k.AckWait != 0 && k.AckWait < time.Second) {
		add(cmp.Or(keyIf(k.LeaseTTL != 0 && k.LeaseTTL < time.Second, "cluster.lease_ttl"), "cluster.ack_wait"),
			"cluster.lease_ttl and cluster.ack_wait must be at least 1s")
	}
	if k.MaxAckPending < 0 || k.MaxAge < 0 {
		add(cmp.Or(keyIf(k.MaxAckPending < 0, "cluster.max_ack_pending"), "cluster.max_age"), "cluster.max_ack_pending and cluster.max_age must not be negative")
	}
	if k.CredentialsFile != "" {
		if _, err := os.Stat(c.Path(k.CredentialsFile)); err != nil {
			add("cluster.credentials_file", fmt.Sprintf("cluster.credentials_file: %v", err))
		}
	}
}

// clusterWarnings are cluster settings that work but risk the promises
// of docs/cluster.md.
func (c *Config) clusterWarnings(add func(key, msg string)) {
	if !c.ClusterMode() {
		return
	}
	if c.Cluster.Replicas == 1 {
		add("cluster.replicas", "cluster.replicas is 1: a NATS node's disk lost loses the messages and leases it held; use 3 in production")
	}
	if c.MQTT.SparkplugHostID != "" {
		add("mqtt.sparkplug_host_id", "mqtt.sparkplug_host_id is not used in cluster mode: no instance publishes the Primary Host STATE, so edge nodes must not be set to wait for it")
	}
	if c.Cluster.LeaseTTL > 20*time.Second {
		add("cluster.lease_ttl", fmt.Sprintf("cluster.lease_ttl %s: a dead instance's sites wait that long for a new owner", c.Cluster.LeaseTTL))
	}
}

// ClusterOptions are the cluster section as the cluster package takes
// it: paths resolved, TLS loaded, the instance id defaulting to the host
// name. A file that does not load is a yamlpos.Problem at its key.
func (c *Config) ClusterOptions() (cluster.Options, error) {
	k := c.Cluster
	tc, err := c.buildTLS(k.TLS, "cluster.tls")
	if err != nil {
		return cluster.Options{}, err
	}
	id := k.InstanceID
	if id == "" {
		id = hostInstance()
	}
	return cluster.Options{URLs: k.URLs, CredsFile: c.Path(k.CredentialsFile), TLS: tc, Instance: id,
		Partitions: k.Partitions, Replicas: k.Replicas, Stream: k.Stream, Bucket: k.Bucket,
		LeaseTTL: k.LeaseTTL, AckWait: k.AckWait, MaxAckPending: k.MaxAckPending, MaxAge: k.MaxAge}.WithDefaults(), nil
}

// hostInstance is the host name made fit for an instance id.
func hostInstance() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "riskmon"
	}
	b := []byte(h)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
			b[i] = '-'
		}
	}
	return string(b[:min(len(b), 64)])
}

// buildTLS turns a TLS section into a client configuration, nil when it
// is off; key names the section in problems.
func (c *Config) buildTLS(t TLS, key string) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	tc := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(c.Path(t.CAFile))
		if err != nil {
			return nil, c.Problem(key+".ca_file", fmt.Sprintf("%s.ca_file: %v", key, err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, c.Problem(key+".ca_file", fmt.Sprintf("%s.ca_file %s holds no PEM certificate", key, t.CAFile))
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.Path(t.CertFile), c.Path(t.KeyFile))
		if err != nil {
			return nil, c.Problem(cmp.Or(keyIf(t.CertFile != "", key+".cert_file"), key+".key_file"), fmt.Sprintf("%s client certificate: %v", key, err))
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
