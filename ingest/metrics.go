package ingest

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the ingest path's Prometheus instruments. Children of the
// labelled vectors are resolved once so the hot path does no map lookups.
type Metrics struct {
	Messages      prometheus.Counter
	Readings      prometheus.Counter
	Accepted      prometheus.Counter
	Written       prometheus.Counter
	Acked         prometheus.Counter
	Connected     prometheus.Gauge
	WriteDuration prometheus.Histogram
	WriteErrors   *prometheus.CounterVec
	Pending       prometheus.Gauge
	SeqGaps       prometheus.Counter
	SeqLate       prometheus.Counter
	Skewed        prometheus.Counter
	Delayed       prometheus.Counter
	Conflicts     prometheus.Counter
	// GatewayMismatch counts readings accepted from another gateway than
	// their sensor's registered one.
	GatewayMismatch prometheus.Counter
	rejected        map[Reason]prometheus.Counter
	unmonitored     map[Reason]prometheus.Counter
}

// NewMetrics creates the ingest metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskmon_ingest_messages_total", Help: "MQTT messages received."}),
		Readings: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskmon_ingest_readings_total", Help: "Readings decoded from messages, valid or not."}),
		Accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskmon_ingest_readings_accepted_total", Help: "Readings that passed validation."}),
		Written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskmon_ingest_readings_written_total", Help: "Readings written to InfluxDB."}),
		Acked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskmon_ingest_messages_acked_total", Help: "MQTT messages acknowledged to the broker after their readings were stored or rejected."}),
		Connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "riskmon_mqtt_connected", Help: "1 while the collector is connected to the broker."}),
		WriteDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "riskmon_influx_write_duration_seconds", Help: "Duration of one InfluxDB write request.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		WriteErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskmon_influx_write_errors_total", Help: "Failed InfluxDB write requests by class."}, []string{"class"}),
		Pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "riskmon_ingest_readings_pending", Help: "Accepted readings not yet written to InfluxDB."}),
		SeqGaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskmon_ingest_seq_gap_messages_total", Help: "Gateway messages lost by sequence number: for JSON seq, still missing limits.seq_grace after the gap opened; for Sparkplug seq, missing at once."}),
		SeqLate: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskmon_ingest_seq_late_messages_total", Help: "Gateway messages that arrived after a higher JSON seq and filled its gap within limits.seq_grace (redelivered or reordered, not lost)."}),
		Skewed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskmon_ingest_clock_skewed_total", Help: "Live readings whose gateway clock is off: device time ahead of receive time by more than limits.skew_tolerance, or behind it while the gateway's clock is reported skewed (stored all the same)."}),
		Delayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskmon_ingest_delayed_total", Help: "Live readings received more than limits.skew_tolerance after their device time from a gateway whose clock is not reported skewed: they waited in transit (stored with their receive time)."}),
		Conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskmon_ingest_conflicts_total", Help: "Readings with the same sensor and time as the previous one but another value; the later overwrites the stored point."}),
		GatewayMismatch: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "riskmon_ingest_gateway_mismatch_total", Help: "Readings accepted through another gateway than the one the registry puts their sensor behind."}),
		rejected:    map[Reason]prometheus.Counter{},
		unmonitored: map[Reason]prometheus.Counter{},
	}
	unmon := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "riskmon_ingest_unmonitored_total", Help: "Sparkplug metrics riskmon does not monitor (not numeric, or no registered sensor), counted instead of parked as dead letters unless limits.dead_letter_unmonitored."}, []string{"reason"})
	for _, r := range []Reason{ReasonUnsupported, ReasonUnknownSensor} {
		m.unmonitored[r] = unmon.WithLabelValues(string(r))
	}
	rej := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "riskmon_ingest_rejected_total", Help: "Rejected messages and readings by reason; each is parked in the dead-letter store."}, []string{"reason"})
	for _, r := range AllReasons() {
		m.rejected[r] = rej.WithLabelValues(string(r))
	}
	for _, c := range []string{"retryable", "permanent"} {
		m.WriteErrors.WithLabelValues(c)
	}
	if reg != nil {
		reg.MustRegister(m.Messages, m.Readings, m.Accepted, m.Written, m.Acked, m.Connected,
			m.WriteDuration, m.WriteErrors, m.Pending, m.SeqGaps, m.SeqLate, m.Skewed, m.Delayed, m.Conflicts, m.GatewayMismatch, rej, unmon)
	}
	return m
}

// Unmonitored is the counter of Sparkplug metrics set aside for reason r
// (unsupported_type or unknown_sensor).
func (m *Metrics) Unmonitored(r Reason) prometheus.Counter { return m.unmonitored[r] }

// Rejected is the counter of one reason.
func (m *Metrics) Rejected(r Reason) prometheus.Counter { return m.rejected[r] }
