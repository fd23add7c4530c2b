package dispatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"

	"github.com/prometheus/client_golang/prometheus"
)

// recorder is a Notifier that keeps the alert ids it was given. Before
// each send it waits on gate, when set, or for ctx.
type recorder struct {
	name    string
	gate    chan struct{}
	started chan string // receives each id as its send begins, when set

	mu  sync.Mutex
	ids []string
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Notify(ctx context.Context, ev alerting.Event) error {
	if r.started != nil {
		r.started <- ev.AlertID
	}
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	r.ids = append(r.ids, ev.AlertID)
	r.mu.Unlock()
	return nil
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

func idEvent(i int) alerting.Event {
	ev := sampleEvent()
	ev.AlertID = fmt.Sprint("a", i)
	return ev
}

// run starts d.Run and returns a wait for it to return.
func run(t *testing.T, d *Dispatcher) (wait func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	return func() {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return")
		}
	}
}

func closeWithin(t *testing.T, d *Dispatcher, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.Close(ctx)
}

func TestDispatcherDropsOldest(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	rec := &recorder{name: "rec"}
	d, err := NewDispatcher([]Notifier{rec}, DispatcherOptions{QueueSize: 2, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		d.Emit(idEvent(i))
	}
	if got := metricValue(t, reg, "riskmon_notification_queue_length", map[string]string{"notifier": "rec"}); got != 2 {
		t.Errorf("queue length %g, want 2", got)
	}
	wait := run(t, d)
	if err := closeWithin(t, d, 5*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wait()
	if got, want := rec.got(), []string{"a4", "a5"}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want the newest %v", got, want)
	}
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"riskmon_notifications_dropped_total", map[string]string{"notifier": "rec", "reason": "queue_full"}, 3},
		{"riskmon_notifications_total", map[string]string{"notifier": "rec", "result": "success"}, 2},
		{"riskmon_notification_duration_seconds", map[string]string{"notifier": "rec"}, 2},
	} {
		if got := metricValue(t, reg, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %g, want %g", tt.name, tt.labels, got, tt.want)
		}
	}
}

func TestDispatcherDrainsOnClose(t *testing.T) {
	a := &recorder{name: "a"}
	b := &recorder{name: "b"}
	d, err := NewDispatcher([]Notifier{a, b}, DispatcherOptions{QueueSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	wait := run(t, d)
	var want []string
	for i := range 500 {
		d.Emit(idEvent(i))
		want = append(want, fmt.Sprint("a", i))
	}
	if err := closeWithin(t, d, 5*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wait()
	for _, r := range []*recorder{a, b} {
		if got := r.got(); !slices.Equal(got, want) {
			t.Errorf("%s delivered %d events, want all %d in order", r.name, len(got), len(want))
		}
	}
	if err := closeWithin(t, d, time.Second); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestDispatcherSlowNotifierDoesNotDelayOthers(t *testing.T) {
	slow := &recorder{name: "slow", gate: make(chan struct{})}
	fast := &recorder{name: "fast", started: make(chan string, 10)}
	d, err := NewDispatcher([]Notifier{slow, fast}, DispatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wait := run(t, d)
	for i := range 3 {
		d.Emit(idEvent(i))
	}
	for i := range 3 {
		select {
		case <-fast.started:
		case <-time.After(5 * time.Second):
			t.Fatalf("fast notifier got %d of 3 events while the slow one hung", i)
		}
	}
	if got := slow.got(); len(got) != 0 {
		t.Errorf("slow notifier delivered %v before its gate opened", got)
	}
	close(slow.gate)
	if err := closeWithin(t, d, 5*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wait()
	if got := slow.got(); len(got) != 3 {
		t.Errorf("slow notifier delivered %v, want 3 events after its gate opened", got)
	}
}

func TestDispatcherCloseDeadline(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	hang := &recorder{name: "hang", gate: make(chan struct{}), started: make(chan string, 10)}
	d, err := NewDispatcher([]Notifier{hang}, DispatcherOptions{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	wait := run(t, d)
	for i := range 3 {
		d.Emit(idEvent(i))
	}
	<-hang.started // a0 is in flight, a1 and a2 queued
	err = closeWithin(t, d, 50*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "2 notifications undelivered") {
		t.Fatalf("Close = %v, want a deadline error counting 2 undelivered", err)
	}
	wait()
	d.Emit(idEvent(9)) // after Close: dropped and counted
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"riskmon_notifications_dropped_total", map[string]string{"notifier": "hang", "reason": "shutdown"}, 3},
		{"riskmon_notifications_total", map[string]string{"notifier": "hang", "result": "failure"}, 1},
	} {
		if got := metricValue(t, reg, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %g, want %g", tt.name, tt.labels, got, tt.want)
		}
	}
}

func TestDispatcherRunContextCancel(t *testing.T) {
	hang := &recorder{name: "hang", gate: make(chan struct{}), started: make(chan string, 10)}
	d, err := NewDispatcher([]Notifier{hang}, DispatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	d.Emit(idEvent(0))
	<-hang.started
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	if err := d.Run(context.Background()); err == nil {
		t.Error("second Run started")
	}
	if err := closeWithin(t, d, time.Second); err != nil {
		t.Errorf("Close after Run returned: %v", err)
	}
}

func TestDispatcherCloseBeforeRun(t *testing.T) {
	rec := &recorder{name: "rec"}
	d, err := NewDispatcher([]Notifier{rec}, DispatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Emit(idEvent(1))
	err = closeWithin(t, d, 20*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 notifications undelivered") {
		t.Errorf("Close = %v, want it to report the dropped event", err)
	}
	if err := d.Run(context.Background()); err == nil {
		t.Error("Run started after Close gave up")
	}
	if err := closeWithin(t, d, time.Second); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNewDispatcherDuplicateNames(t *testing.T) {
	_, err := NewDispatcher([]Notifier{&recorder{name: "x"}, &recorder{name: "x"}}, DispatcherOptions{})
	if err == nil {
		t.Fatal("two notifiers with one name accepted")
	}
}

// TestEngineToDispatcher wires the engine to a dispatcher as the service does.
func TestEngineToDispatcher(t *testing.T) {
	rec := &recorder{name: "rec"}
	d, err := NewDispatcher([]Notifier{rec}, DispatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := alerting.NewEngine(testRegistry(t), d, alerting.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wait := run(t, d)
	e.Evaluate(reading("hz-01", "GT-101", 0, 30))
	e.Evaluate(reading("hz-01", "GT-101", 5, 3))
	if err := closeWithin(t, d, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	wait()
	if got := rec.got(); len(got) != 2 || got[0] != got[1] {
		t.Errorf("delivered %v, want fired and resolved of one alert", got)
	}
}

// t0 is the device time of sampleEvent's condition.
var t0 = time.Date(2026, 11, 28, 16, 0, 0, 0, time.UTC)

// sampleEvent is an orange combustible-gas alert fired at t0+30s.
func sampleEvent() alerting.Event {
	return alerting.Event{
		AlertID: "0123456789abcdef", Rule: "combustible_gas_high", Site: "hz-01", Sensor: "GT-101",
		Kind: "combustible_gas", Unit: "%LEL", Type: alerting.EventFired, Level: sensors.LevelOrange,
		Value: 27.3, Setpoint: 25, At: t0.Add(30 * time.Second), StartsAt: t0,
		Message: "combustible_gas GT-101 at hz-01: 27.3 %LEL >= 25 (level 2 orange)",
	}
}
