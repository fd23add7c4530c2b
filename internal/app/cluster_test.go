package app

import (
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
)

// fakeOwner holds the sites listed, each since its time.
type fakeOwner map[string]time.Time

func (f fakeOwner) OwnedSince(site string) (time.Time, bool) {
	t, ok := f[site]
	return t, ok
}

// TestClusterSilenceOwnership: in a cluster an instance judges the
// silence of a site (sensor_stale, a quiet gateway) only once it has held
// the site's partition for silenceGrace; single-node it always does.
func TestClusterSilenceOwnership(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	single := &Service{}
	if !single.answersFor("hz-01", now) {
		t.Error("single-node instance does not answer for a site")
	}
	s := &Service{owner: fakeOwner{"old": now.Add(-time.Hour), "new": now.Add(-10 * time.Second)}}
	for _, tc := range []struct {
		site string
		want bool
	}{{"old", true}, {"new", false}, {"other", false}} {
		if got := s.answersFor(tc.site, now); got != tc.want {
			t.Errorf("answersFor(%s) = %v, want %v", tc.site, got, tc.want)
		}
	}
	qs := []alerting.QuietGateway{{Site: "old", Gateway: "g1"}, {Site: "new", Gateway: "g2"}, {Site: "other", Gateway: "g3"}}
	got := s.ownedQuiet(now, qs)
	if len(got) != 1 || got[0].Gateway != "g1" {
		t.Errorf("quiet gateways kept: %+v", got)
	}
	if len(single.ownedQuiet(now, qs)) != 3 {
		t.Error("single-node instance dropped quiet gateways")
	}
}
