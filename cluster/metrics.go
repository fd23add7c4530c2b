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
	}
	if reg != nil {
		reg.MustRegister(m.Owned, m.Members, m.Takeovers, m.Renewals, m.Lost, m.Delivered)
	}
	return m
}
