package demo

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/riskmon/riskmon/internal/procstat"
	"github.com/riskmon/riskmon/simulator"
)

// The measured load's fleet: as the cluster fault tests', 6 sites of 50
// sensors, so that the sites spread over the partitions.
const (
	loadSites          = 6
	loadSensorsPerSite = 50
)

// loadOptions plays the measured load: Rate readings a second of a
// synthetic fleet, Rate × Duration readings in all. Device time runs
// faster than the wall clock when Rate exceeds the fleet's size, so it
// starts in the past far enough never to run ahead of riskmon's clock.
func (c *clusterDemo) loadOptions(opts simulator.Options) simulator.Options {
	sensors := c.reg.Len()
	total := int(float64(c.o.Rate) * c.o.Duration.Seconds())
	span := time.Duration(float64(total)/float64(sensors)) * time.Second
	opts.Interval = time.Second
	opts.Speed = float64(c.o.Rate) / float64(sensors)
	opts.MaxReadings = total
	opts.Start = c.runStart.Add(-2 * span).Add(-time.Minute).Truncate(time.Second)
	opts.Incidents = nil
	return opts
}

// cpuSample is the CPU time (user + system, from /proc) of every process
// the cluster demo runs, and what each instance had accepted, at one
// moment.
type cpuSample struct {
	inst     map[string]time.Duration
	accepted map[string]float64
	nats     time.Duration
	influx   time.Duration
	self     time.Duration
}

// sampleCPU reads the sample now. A process that cannot be read counts
// 0; the run's processes all live to the end of a measured run.
func (c *clusterDemo) sampleCPU() cpuSample {
	cpu := func(pid int) time.Duration {
		d, _ := procstat.CPU(pid)
		return d
	}
	s := cpuSample{inst: map[string]time.Duration{}, accepted: map[string]float64{}}
	for _, in := range c.insts {
		s.inst[in.id] = cpu(in.pid())
		s.accepted[in.id], _ = in.metric("riskmon_ingest_readings_accepted_total")
	}
	for _, nd := range c.nats.Nodes {
		s.nats += cpu(nd.Pid())
	}
	s.influx = cpu(c.influx.Pid())
	s.self = cpu(os.Getpid())
	return s
}

// printCPU writes the CPU-µs per reading between two samples: of each
// instance (per reading it accepted, and per reading of the whole load),
// of the NATS nodes, of InfluxDB, and of everything that serves the load.
// The demo process, whose simulator publishes the load, is shown apart.
func (c *clusterDemo) printCPU(w io.Writer, a, b cpuSample, readings int64) {
	if readings <= 0 {
		return
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(readings) }
	fmt.Fprintf(w, "  CPU-µs per reading (user+system from /proc, from the first publish until InfluxDB held every reading)\n")
	var riskmon time.Duration
	for _, in := range c.insts {
		d := b.inst[in.id] - a.inst[in.id]
		riskmon += d
		own := "-"
		if n := b.accepted[in.id] - a.accepted[in.id]; n > 0 {
			own = fmt.Sprintf("%.2f", float64(d.Microseconds())/n)
		}
		fmt.Fprintf(w, "    riskmon %-6s       %5.2f of the load, %s per reading it evaluated (%.0f)\n", in.id, per(d), own, b.accepted[in.id]-a.accepted[in.id])
	}
	nats, influx := b.nats-a.nats, b.influx-a.influx
	fmt.Fprintf(w, "    riskmon, all          %5.2f\n", per(riskmon))
	fmt.Fprintf(w, "    nats-server, 3 nodes  %5.2f\n", per(nats))
	fmt.Fprintf(w, "    influxd               %5.2f\n", per(influx))
	fmt.Fprintf(w, "    all servers           %5.2f\n", per(riskmon+nats+influx))
	fmt.Fprintf(w, "    demo process          %5.2f (the simulator publishing the load; not counted above)\n", per(b.self-a.self))
}
