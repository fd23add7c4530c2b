package faults

import (
	"fmt"
	"testing"
	"time"
)

// TestMosquittoKilled kills Mosquitto with SIGKILL 5 s into a run at 2,000
// readings/s, long before a timed autosave would have written anything,
// and starts it again on the same folder: with the broker saving on every
// change, every reading the broker acknowledged to the gateways lands in
// InfluxDB, and riskmon is back within seconds.
func TestMosquittoKilled(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	svc, _ := r.service(r.config(t.TempDir()))
	pg := newTopicPager(t, r.mosq.URL)
	ru := r.publish(60_000, 2000, 0)
	time.Sleep(5 * time.Second)
	port := r.mosq.Port
	r.mosq.Kill()
	killed := time.Now()
	time.Sleep(time.Second)
	r.startMosquitto(port)
	deadline := time.Now().Add(30 * time.Second)
	for !svc.Connected() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	back := time.Since(killed)
	st := ru.wait(t)
	n := r.landed(ru, st.Readings, 2*time.Minute)
	report(t, "Mosquitto killed with SIGKILL 5 s in and restarted after 1 s", st, n,
		fmt.Sprintf("riskmon resubscribed %s after the kill; received %.0f readings (duplicates included); paged %s",
			back.Round(100*time.Millisecond), svc.Stats().Received, pg))
	if !svc.Connected() {
		t.Fatal("riskmon did not reconnect to the restarted broker")
	}
	if n != st.Readings {
		r.missing(ru)
		t.Fatalf("InfluxDB holds %d readings, the broker acknowledged %d to the gateways", n, st.Readings)
	}
}
