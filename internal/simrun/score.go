package simrun

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/riskmon/riskmon/simulator"
	"github.com/riskmon/riskmon/storage"
)

// ScoreOptions say where the ground truth and riskmon's alert events are.
// Exactly one of API, Events and Influx.URL gives the events.
type ScoreOptions struct {
	Truth  string
	API    string          // riskmon's HTTP address
	Events string          // a saved JSON array of events
	Influx storage.Options // URL set: read from InfluxDB
	Grace  time.Duration
}

// Score matches riskmon's alert events to the ground truth and prints
// the table; it fails with ErrTargetsMissed when a detection target of
// the scenario is missed.
func Score(ctx context.Context, out io.Writer, o ScoreOptions) (simulator.Score, error) {
	truth, err := readTruth(o.Truth)
	if err != nil {
		return simulator.Score{}, err
	}
	events, err := readEvents(ctx, o, truth.Run.Start.Add(-o.Grace))
	if err != nil {
		return simulator.Score{}, err
	}
	sc := simulator.ScoreRun(truth, events, simulator.ScoreOptions{Grace: o.Grace})
	fmt.Fprintf(out, "scenario %s, %d alert events read\n\n", truth.Run.Scenario, len(events))
	if err := sc.WriteTable(out); err != nil {
		return sc, err
	}
	if sc.Missed > 0 {
		return sc, fmt.Errorf("%d %w", sc.Missed, ErrTargetsMissed)
	}
	return sc, nil
}

// readEvents reads the alert events from since on from the one source o
// names.
func readEvents(ctx context.Context, o ScoreOptions, since time.Time) ([]simulator.AlertEvent, error) {
	sources := 0
	for _, src := range []string{o.API, o.Events, o.Influx.URL} {
		if src != "" {
			sources++
		}
	}
	switch {
	case sources != 1:
		return nil, fmt.Errorf("give one of --api, --from-influx and --events")
	case o.Influx.URL != "":
		if o.Influx.Bucket == "" {
			return nil, fmt.Errorf("--from-influx needs --bucket")
		}
		store := storage.New(o.Influx)
		defer store.Close()
		return simulator.ReadAlertEventsInflux(ctx, store, since)
	case o.Events != "":
		f, err := os.Open(o.Events)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		events, err := simulator.ReadAlertEvents(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Events, err)
		}
		return events, nil
	}
	return fetchEvents(ctx, o.API, since)
}

// fetchEvents reads riskmon's recent alert events from since on.
func fetchEvents(ctx context.Context, api string, since time.Time) ([]simulator.AlertEvent, error) {
	u := strings.TrimSuffix(api, "/") + "/api/events?since=" + url.QueryEscape(since.UTC().Format(time.RFC3339Nano))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	evs, err := simulator.ReadAlertEvents(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return evs, nil
}
