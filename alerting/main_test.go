package alerting

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/riskmon/riskmon/internal/metrictest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// metricValue reads one series of g (metrictest.Value).
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	return metrictest.Value(t, g, name, labels)
}
