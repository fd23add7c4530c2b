package notify

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// plainWebhook is an unsigned webhook to srv that retries quickly:
// millisecond backoff, a short budget.
func plainWebhook(srv *httptest.Server) WebhookOptions {
	return WebhookOptions{URL: srv.URL, RetryOptions: RetryOptions{
		Timeout:         time.Second,
		MaxElapsed:      2 * time.Second,
		InitialInterval: time.Millisecond,
		MaxInterval:     5 * time.Millisecond,
	}}
}

// clientDeps sends through srv's client.
func clientDeps(srv *httptest.Server) Deps { return Deps{Client: srv.Client()} }

func TestWebhook(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int // answers in order; the last repeats
		header   http.Header
		wantHits int32
		wantErr  int // status of the StatusError expected; 0 for success
	}{
		{"200 at once", []int{200}, nil, 1, 0},
		{"500s retried then 200", []int{500, 502, 503, 204}, nil, 4, 0},
		{"400 not retried", []int{400}, nil, 1, 400},
		{"404 not retried", []int{404, 200}, nil, 1, 404},
		{"429 retried with Retry-After capped", []int{429, 200}, http.Header{"Retry-After": {"120"}}, 2, 0},
		{"500 until the budget runs out", []int{500}, nil, -1, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(hits.Add(1)) - 1
				var ev alerting.Event
				if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "Bearer t" {
					t.Errorf("request %s with headers %v", r.Method, r.Header)
				}
				if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || ev.AlertID != "0123456789abcdef" || ev.Type != alerting.EventFired {
					t.Errorf("body decodes to %+v, %v", ev, err)
				}
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tt.statuses[min(n, len(tt.statuses)-1)])
				_, _ = w.Write([]byte("nope"))
			}))
			defer srv.Close()
			opts := plainWebhook(srv)
			opts.Header = map[string]string{"Authorization": "Bearer t"}
			if tt.wantHits < 0 {
				opts.MaxElapsed = 50 * time.Millisecond
			}
			n, err := NewWebhook(opts, clientDeps(srv))
			if err != nil {
				t.Fatal(err)
			}
			err = n.Notify(context.Background(), sampleEvent())
			if tt.wantErr == 0 && err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if tt.wantErr != 0 {
				var se *HTTPError
				if !errors.As(err, &se) || se.StatusCode != tt.wantErr || se.Body != "nope" {
					t.Fatalf("err = %v, want status %d with the body", err, tt.wantErr)
				}
			}
			if tt.wantHits > 0 && hits.Load() != tt.wantHits {
				t.Errorf("%d requests, want %d", hits.Load(), tt.wantHits)
			}
			if tt.wantHits < 0 && hits.Load() < 2 {
				t.Errorf("%d requests, want retries until the budget ran out", hits.Load())
			}
		})
	}
}

func TestWebhookConnectionErrorRetried(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			// Drop the connection without an answer, as a crashing
			// receiver or a reset by a proxy would.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	n, err := NewWebhook(plainWebhook(srv), clientDeps(srv))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), sampleEvent()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if hits.Load() != 2 {
		t.Errorf("%d requests, want 2", hits.Load())
	}
}

func TestWebhookTimeout(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	opts := plainWebhook(srv)
	opts.Timeout = 20 * time.Millisecond
	opts.MaxElapsed = 150 * time.Millisecond
	n, err := NewWebhook(opts, clientDeps(srv))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = n.Notify(context.Background(), sampleEvent())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline exceeded", err)
	}
	if hits.Load() < 2 {
		t.Errorf("%d requests, want the timeout retried", hits.Load())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Notify took %v, want about MaxElapsed", d)
	}
}

func TestWebhookContextCancelStopsRetries(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	opts := plainWebhook(srv)
	opts.InitialInterval, opts.MaxInterval = time.Hour, time.Hour
	opts.MaxElapsed = 10 * time.Hour
	n, err := NewWebhook(opts, clientDeps(srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := n.Notify(ctx, sampleEvent()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
}

func TestNewWebhookURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x/y", "http://", "://bad", "localhost:8080/hook"} {
		if _, err := NewWebhook(WebhookOptions{URL: u}, Deps{}); err == nil {
			t.Errorf("NewWebhook(%q) accepted it", u)
		}
	}
	n, err := NewWebhook(WebhookOptions{Name: "ops", URL: "https://hooks.example/alerts"}, Deps{})
	if err != nil || n.Name() != "ops" {
		t.Errorf("got %v, %v", n, err)
	}
	for secret, want := range map[string]string{"": "webhook", "k": "signed_webhook"} {
		if n, err := NewWebhook(WebhookOptions{URL: "https://hooks.example/alerts", Secret: secret}, Deps{}); err != nil || n.Name() != want {
			t.Errorf("secret %q: name %v, %v; want %q", secret, n, err, want)
		}
	}
}

// Every attempt of one change carries the same idempotency key, in the
// Idempotency-Key header (a quoted structured-field string) and in the
// body; another change of the same alert has another key.
func TestWebhookIdempotencyKey(t *testing.T) {
	type seen struct{ header, body string }
	var mu sync.Mutex
	var got []seen
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Key string `json:"idempotency_key"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		mu.Lock()
		got = append(got, seen{r.Header.Get(IdempotencyHeader), b.Key})
		mu.Unlock()
		if hits.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // one retry
		}
	}))
	defer srv.Close()
	n, err := NewWebhook(plainWebhook(srv), clientDeps(srv))
	if err != nil {
		t.Fatal(err)
	}
	fired := sampleEvent()
	resolved := fired
	resolved.Type, resolved.Level, resolved.PrevLevel = alerting.EventResolved, sensors.LevelNone, sensors.LevelOrange
	for _, ev := range []alerting.Event{fired, resolved} {
		if err := n.Notify(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	key := fired.IdempotencyKey()
	if len(key) != 32 || strings.Trim(key, "0123456789abcdef") != "" {
		t.Fatalf("key %q: want 32 hex digits", key)
	}
	for i, s := range got[:2] {
		if s.header != `"`+key+`"` || s.body != key {
			t.Fatalf("attempt %d carried header %q and body key %q, want %q", i+1, s.header, s.body, key)
		}
	}
	if got[2].body == key || got[2].header != `"`+got[2].body+`"` {
		t.Fatalf("the resolution carried %+v, want its own key", got[2])
	}
	// The same change built again (after a restart) has the same key.
	again := sampleEvent()
	again.Message = "rendered again"
	if again.IdempotencyKey() != key {
		t.Fatal("the key depends on more than the change")
	}
}
