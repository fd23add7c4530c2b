package simrun

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/internal/replay"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
)

// RuleBenchOptions configure a score of the default rules on the
// synthetic incident library.
type RuleBenchOptions struct {
	Seeds       []uint
	SensorHours float64 // of normal operation per seed
	// Curve is the accelerating ramps' time constant as a share of their
	// rise; 0 for the bench's default (1/3).
	Curve float64
	// NoiseScale and SpikeEvery change the bench's noise (see
	// simulator.BenchOptions); 0 for its default.
	NoiseScale float64
	SpikeEvery int
}

// benchEvents converts the engine's events to the scorer's.
func benchEvents(evs []alerting.Event) []simulator.AlertEvent {
	out := make([]simulator.AlertEvent, 0, len(evs))
	for _, ev := range evs {
		out = append(out, simulator.AlertEvent{AlertID: ev.AlertID, Rule: ev.Rule, Site: ev.Site, Sensor: ev.Sensor,
			Type: ev.Type.String(), Level: ev.Level, At: ev.At, Message: ev.Message, Due: ev.Due})
	}
	return out
}

// RuleBench scores the default rules, with the default flapping hold, on
// the synthetic bench of each seed and prints one row per seed and the
// pooled figures.
func RuleBench(ctx context.Context, out io.Writer, o RuleBenchOptions) ([]simulator.BenchScore, error) {
	var scores []simulator.BenchScore
	for _, seed := range o.Seeds {
		b, err := simulator.NewBench(simulator.BenchOptions{Seed: uint64(seed), SensorHours: o.SensorHours, Curve: o.Curve,
			NoiseScale: o.NoiseScale, SpikeEvery: o.SpikeEvery})
		if err != nil {
			return nil, err
		}
		normal, err := replay.RunHeld(ctx, b.Registry, alerting.Options{}, lifecycle.FlapOptions{}, b.NormalSource(), replay.Filter{})
		if err != nil {
			return nil, err
		}
		inc, err := replay.RunHeld(ctx, b.Registry, alerting.Options{}, lifecycle.FlapOptions{}, b.IncidentSource(), replay.Filter{})
		if err != nil {
			return nil, err
		}
		scores = append(scores, b.ScoreBench(benchEvents(normal.Events), benchEvents(inc.Events)))
	}
	return scores, writeRuleBench(out, scores, o.Curve)
}

// writeKindLeads prints the ramps' median lead per kind, pooled over the
// seeds: a median over kinds hides that some kinds' ramps cannot be seen
// as early as others' against their noise.
func writeKindLeads(w io.Writer, scores []simulator.BenchScore, curve float64) error {
	pooled := map[simulator.Shape]map[sensors.KindID][]float64{}
	var kinds []sensors.KindID
	for _, s := range scores {
		for sh, byKind := range s.KindFracs {
			if pooled[sh] == nil {
				pooled[sh] = map[sensors.KindID][]float64{}
			}
			for k, v := range byKind {
				if !slices.Contains(kinds, k) {
					kinds = append(kinds, k)
				}
				pooled[sh][k] = append(pooled[sh][k], v...)
			}
		}
	}
	if len(kinds) == 0 {
		return nil
	}
	slices.Sort(kinds)
	if curve <= 0 {
		curve = 1.0 / 3
	}
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %.0f %% / %.0f %%", k, 100*simulator.Median(pooled[simulator.ShapeRamp][k]),
			100*simulator.Median(pooled[simulator.ShapeExpRamp][k])))
	}
	_, err := fmt.Fprintf(w, "LEAD BY KIND (median share of onset→alarm, straight / accelerating with τ = %.2f of the rise): %s\n"+
		"按类型的提前量（占起始→报警时长的中位比例，直线 / 加速，τ 为上升时长的 %.2f）：%s\n",
		curve, strings.Join(parts, ", "), curve, strings.Join(parts, "，"))
	return err
}

// pool is the seeds' scores as one: counts added, per-incident figures
// gathered, so its medians are over every incident of every seed.
func pool(scores []simulator.BenchScore) simulator.BenchScore {
	all := simulator.BenchScore{Leads: map[simulator.Shape][]float64{}, Fracs: map[simulator.Shape][]float64{}}
	for _, s := range scores {
		all.Detected += s.Detected
		all.Incidents += s.Incidents
		for k, v := range s.Leads {
			all.Leads[k] = append(all.Leads[k], v...)
		}
		for k, v := range s.Fracs {
			all.Fracs[k] = append(all.Fracs[k], v...)
		}
		all.ETAErr = append(all.ETAErr, s.ETAErr...)
		all.RuptureDelay = append(all.RuptureDelay, s.RuptureDelay...)
		all.FalseAlerts += s.FalseAlerts
		all.SensorHours += s.SensorHours
	}
	return all
}

func writeRuleBench(w io.Writer, scores []simulator.BenchScore, curve float64) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEED\tDETECTED\tLEAD RAMP\tLEAD EXP RAMP\tETA ERROR\tRUPTURE\tFALSE\tSENSOR-H\tFALSE/1000 H")
	row := func(name string, s simulator.BenchScore) {
		lead := func(sh simulator.Shape) string {
			return fmt.Sprintf("%.0f s, %.0f %%", simulator.Median(s.Leads[sh]), 100*simulator.Median(s.Fracs[sh]))
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%s\t%.2f\t%.0f s\t%d\t%.0f\t%.2f\n", name, s.Detected, s.Incidents,
			lead(simulator.ShapeRamp), lead(simulator.ShapeExpRamp), simulator.Median(s.ETAErr),
			simulator.Median(s.RuptureDelay), s.FalseAlerts, s.SensorHours, s.FalsePer1000())
	}
	all := pool(scores)
	for _, s := range scores {
		row(fmt.Sprint(s.Seed), s)
	}
	if len(scores) > 1 {
		row("all", all)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, `
LEAD: median time from the first early warning to the first setpoint, and as a share of onset→alarm (0 when late or missed).
ETA ERROR: median |stated time − actual| / actual time from the warning to the alarm. RUPTURE: median time to the first alert.
提前量：首个预警至首个设定值越限的中位时间及其占起始→报警时长的比例；ETA 误差：预计时间与实际之差占预警至报警实际时长之比的中位数；误报：每千传感器小时误报次数。`)
	if err := writeKindLeads(w, scores, curve); err != nil {
		return err
	}
	for _, s := range scores {
		for i, ev := range s.False {
			if i == 3 {
				fmt.Fprintf(w, "  seed %d: %d more false alerts\n", s.Seed, len(s.False)-3)
				break
			}
			fmt.Fprintf(w, "  seed %d false: %s %s %s: %s\n", s.Seed, ev.At.Format(time.RFC3339), ev.Rule, ev.Sensor, ev.Message)
		}
	}
	if math.IsNaN(simulator.Median(all.ETAErr)) && len(scores) > 0 {
		fmt.Fprintln(w, "no forecast warned before its alarm: no ETA to score")
	}
	return nil
}
