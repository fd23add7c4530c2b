package cluster

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the cluster's Prometheus figures.
type Metrics struct {
	Owned     prometheus.Gauge
	Members   prometheus.Gauge
	Takeovers prometheus.Counter
	Renewals  prometheus.Counter
	Lost      prometheus.Counter
	Delivered prometheus.Counter
	// SourceLag and Pending are read from JetStream every few seconds.
	SourceLag prometheus.Gauge
	Pending   prometheus.Gauge
	// JetStreamUp and Unowned are set by Node.Check, the cluster
	// condition alerts' look at the cluster.
	JetStreamUp prometheus.Gauge
	Unowned     prometheus.Gauge
}

// NewMetrics registers the figures with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Owned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskmon_cluster_owned_partitions",
			Help: "Partitions this instance holds a lease on."}),
		Members: prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskmon_cluster_members",
			Help: "Instances with a live heartbeat in the lease bucket, as this instance last saw them."}),
		Takeovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskmon_cluster_takeovers_total",
			Help: "Partition leases this instance has taken."}),
		Renewals: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskmon_cluster_lease_renewals_total",
			Help: "Partition lease renewals that landed."}),
		Lost: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskmon_cluster_leases_lost_total",
			Help: "Partition leases found taken by another instance at renewal (this one was away past the TTL)."}),
		Delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskmon_cluster_messages_total",
			Help: "Gateway messages read from owned partitions, redeliveries included."}),
		SourceLag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskmon_cluster_source_lag_messages",
			Help: "Gateway messages stored by the MQTT listeners and not yet in riskmon's stream (the stream's source lag)."}),
		Pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskmon_cluster_pending_messages",
			Help: "Messages of this instance's partitions not yet delivered or not yet acknowledged."}),
		JetStreamUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskmon_cluster_jetstream_up",
			Help: "1 while JetStream's meta leader and the lease bucket's leader answer this instance, 0 while they do not (quorum lost or unreachable)."}),
		Unowned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskmon_cluster_unowned_partitions",
			Help: "Partitions without a lease holder as this instance last saw the lease bucket: their sites are not evaluated."}),
	}
	if reg != nil {
		reg.MustRegister(m.Owned, m.Members, m.Takeovers, m.Renewals, m.Lost, m.Delivered, m.SourceLag, m.Pending, m.JetStreamUp, m.Unowned)
	}
	return m
}
