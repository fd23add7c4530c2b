package notify

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	attempts    *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
}

// newMetrics registers the vectors on reg, or reuses the ones another
// channel already registered there: every channel reports under the same
// names, told apart by the notifier label.
func newMetrics(reg prometheus.Registerer) (metrics, error) {
	m := metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskmon_notify_attempts_total",
			Help: "Delivery attempts of notifications, by notifier and result (success, retryable_error, permanent_error).",
		}, []string{"notifier", "result"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskmon_notify_dead_letters_total",
			Help: "Notifications that never got through and went to the notifier's dead letter.",
		}, []string{"notifier"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.attempts, err = register(reg, m.attempts); err != nil {
		return m, err
	}
	if m.deadLetters, err = register(reg, m.deadLetters); err != nil {
		return m, err
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
