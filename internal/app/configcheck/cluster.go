package configcheck

import (
	"context"
	"errors"

	"github.com/riskmon/riskmon/cluster"
	"github.com/riskmon/riskmon/sensors/yamlpos"
)

// CheckCluster connects to the NATS cluster of the configuration's
// cluster section, if it has one, and checks without changing anything
// that this instance could join it: a server answers, the credentials
// are taken, JetStream is on and the stream has this configuration's
// partition count and replicas. Unlike Check it connects, so it is a step
// of its own. It returns what it found about the stream, "" without a
// cluster section or on a problem, which it adds to the report.
func (r *Report) CheckCluster(ctx context.Context) string {
	if !r.Config.ClusterMode() || !r.OK() {
		return ""
	}
	opts, err := r.Config.ClusterOptions()
	if err != nil {
		var p yamlpos.Problem
		if !errors.As(err, &p) {
			p = r.Config.Problem("cluster", "cluster: "+err.Error())
		}
		r.Problems = append(r.Problems, p)
		return ""
	}
	state, err := cluster.Probe(ctx, opts)
	if err != nil {
		key := "cluster.urls"
		var mm *cluster.MismatchError
		if errors.As(err, &mm) {
			key = "cluster." + mm.What
		}
		r.Problems = append(r.Problems, r.Config.Problem(key, "cluster: "+err.Error()))
		return ""
	}
	return state
}
