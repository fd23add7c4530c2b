package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Options configure one instance's place in the cluster.
type Options struct {
	// URLs are NATS servers to connect to (nats://host:4222, tls://…);
	// any one reachable node is enough, the client learns the others.
	URLs []string
	// CredsFile is a NATS credentials file (user JWT and NKey seed).
	CredsFile string
	// TLS, when set, is used for the NATS connection.
	TLS *tls.Config
	// Instance names this instance in leases and logs; unique per
	// instance, letters, digits, '-' and '_'.
	Instance string
	// Partitions is the number of partitions sites are hashed into. It is
	// fixed when the stream is created: every instance must use the
	// stream's count.
	Partitions int
	// Replicas is how many NATS nodes keep the stream, its consumers and
	// the lease bucket (1, 3 or 5).
	Replicas int
	// Stream is the JetStream stream that keeps gateway messages.
	Stream string
	// Bucket is the key-value bucket that keeps the leases.
	Bucket string
	// LeaseTTL is how long a lease lasts unless renewed; an instance
	// that stops renewing loses its partitions after it.
	LeaseTTL time.Duration
	// AckWait is how long JetStream waits for an acknowledgement before
	// it delivers a message again.
	AckWait time.Duration
	// MaxAckPending bounds the unacknowledged messages of one partition.
	MaxAckPending int
	// MaxAge is how long the stream keeps a message after it arrived,
	// acknowledged or not, so a lost disk can be replayed from the log.
	MaxAge time.Duration
	// ConnectTimeout bounds the first connection and each request.
	ConnectTimeout time.Duration
}

// Defaults of Options.
const (
	DefaultStream        = "RISKMON"
	DefaultBucket        = "riskmon_leases"
	DefaultPartitions    = 16
	DefaultReplicas      = 3
	DefaultLeaseTTL      = 3 * time.Second
	DefaultAckWait       = 5 * time.Second
	DefaultMaxAckPending = 4096
	DefaultMaxAge        = 72 * time.Hour
)

// WithDefaults fills what is unset.
func (o Options) WithDefaults() Options {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	if o.Partitions == 0 {
		o.Partitions = DefaultPartitions
	}
	if o.Replicas == 0 {
		o.Replicas = DefaultReplicas
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.AckWait == 0 {
		o.AckWait = DefaultAckWait
	}
	if o.MaxAckPending == 0 {
		o.MaxAckPending = DefaultMaxAckPending
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	return o
}

// name is what an instance id, a stream and a bucket may be made of: it
// goes into KV keys and consumer names.
var name = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidName reports whether s can name an instance, a stream or a bucket.
func ValidName(s string) bool { return name.MatchString(s) }

// MaxPartitions bounds Partitions: each is a consumer and a lease.
const MaxPartitions = 1024

// Validate reports every problem of options that went through
// WithDefaults, each as a plain sentence.
func (o Options) Validate() error {
	var errs []error
	if len(o.URLs) == 0 {
		errs = append(errs, errors.New("no NATS URL"))
	}
	if !ValidName(o.Instance) {
		errs = append(errs, fmt.Errorf("instance id %q: use 1 to 64 letters, digits, '-' or '_'", o.Instance))
	}
	if !ValidName(o.Stream) || !ValidName(o.Bucket) {
		errs = append(errs, fmt.Errorf("stream %q and bucket %q: use 1 to 64 letters, digits, '-' or '_'", o.Stream, o.Bucket))
	}
	if o.Partitions < 1 || o.Partitions > MaxPartitions {
		errs = append(errs, fmt.Errorf("partitions %d: between 1 and %d", o.Partitions, MaxPartitions))
	}
	if o.Replicas != 1 && o.Replicas != 3 && o.Replicas != 5 {
		errs = append(errs, fmt.Errorf("replicas %d: 1, 3 or 5 (a Raft group wants an odd size; 3 survives one node)", o.Replicas))
	}
	if o.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("lease_ttl %s: at least 1s", o.LeaseTTL))
	}
	if o.AckWait < time.Second {
		errs = append(errs, fmt.Errorf("ack_wait %s: at least 1s", o.AckWait))
	}
	if o.MaxAckPending < 1 {
		errs = append(errs, fmt.Errorf("max_ack_pending %d: at least 1", o.MaxAckPending))
	}
	return errors.Join(errs...)
}
