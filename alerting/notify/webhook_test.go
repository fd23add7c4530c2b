package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/alerting"
)

func TestSignedWebhook(t *testing.T) {
	const secret = "s3cret"
	tests := []struct {
		name     string
		answers  []answer
		requests int
		wantErr  bool
	}{
		{"ok", []answer{{status: 204}}, 1, false},
		{"503 with Retry-After retried", []answer{{status: 503, header: map[string]string{"Retry-After": "1"}}, {status: 200}}, 2, false},
		{"408 retried", []answer{{status: 408}, {status: 200}}, 2, false},
		{"400 not retried", []answer{{status: 400, body: "bad"}, {status: 200}}, 1, true},
		{"401 not retried", []answer{{status: 401}, {status: 200}}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t, tt.answers...)
			reg := prometheus.NewRegistry()
			retry := fastRetry(t)
			retry.MaxInterval = 2 * time.Second // lets Retry-After: 1 through
			n, err := NewWebhook(WebhookOptions{
				URL: srv.URL + "/hook", Secret: secret, Header: map[string]string{"Authorization": "Bearer x"}, RetryOptions: retry,
			}, testDeps(reg))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = n.Notify(context.Background(), firedEvent())
			if (err != nil) != tt.wantErr {
				t.Fatalf("Notify error %v, want error %v", err, tt.wantErr)
			}
			got := srv.got()
			if len(got) != tt.requests {
				t.Fatalf("%d requests, want %d", len(got), tt.requests)
			}
			if tt.answers[0].header["Retry-After"] == "1" && time.Since(start) < time.Second {
				t.Errorf("retried after %v, before the server's Retry-After of 1s", time.Since(start))
			}
			for _, r := range got {
				// Recompute as a receiver would: HMAC-SHA256 of the raw body.
				mac := hmac.New(sha256.New, []byte(secret))
				mac.Write(r.Body)
				want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
				if sig := r.Header.Get("X-Riskmon-Signature"); !hmac.Equal([]byte(sig), []byte(want)) {
					t.Errorf("signature %q, want %q", sig, want)
				}
				if ts := r.Header.Get("X-Riskmon-Timestamp"); ts != strconv.FormatInt(testNow.Unix(), 10) {
					t.Errorf("timestamp %q", ts)
				}
				if r.Header.Get("Authorization") != "Bearer x" || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("headers %v", r.Header)
				}
				var ev struct {
					alerting.Event
					Key string `json:"idempotency_key"`
				}
				if err := json.Unmarshal(r.Body, &ev); err != nil || ev.AlertID != firedEvent().AlertID {
					t.Errorf("body %s: %v", r.Body, err)
				}
				// The same key on every attempt, in the header and the body.
				if key := firedEvent().IdempotencyKey(); ev.Key != key || r.Header.Get(IdempotencyHeader) != `"`+key+`"` {
					t.Errorf("idempotency key %q in the body and %q in the header, want %q", ev.Key, r.Header.Get(IdempotencyHeader), key)
				}
			}
			if n := len(readDeadLetters(t, retry.DeadLetter)); (n == 1) != tt.wantErr {
				t.Errorf("%d dead letters", n)
			}
		})
	}
}

func TestSignedWebhookGivesUp(t *testing.T) {
	// Nothing listens on a closed server's port: connection errors are
	// retried until MaxElapsed, then the event is dead-lettered.
	srv := newFakeServer(t, answer{status: 200})
	srv.Close()
	reg := prometheus.NewRegistry()
	retry := fastRetry(t)
	retry.MaxElapsed = 100 * time.Millisecond
	n, err := NewWebhook(WebhookOptions{Name: "hook", URL: srv.URL, Secret: "k", RetryOptions: retry}, testDeps(reg))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), firedEvent()); err == nil {
		t.Fatal("no error")
	}
	if v := metricValue(t, reg, "riskmon_notify_attempts_total", map[string]string{"notifier": "hook", "result": resultRetryable}); v < 2 {
		t.Errorf("%v retryable attempts, want several", v)
	}
	dead := readDeadLetters(t, retry.DeadLetter)
	if len(dead) != 1 || dead[0].Notifier != "hook" {
		t.Fatalf("dead letters %+v", dead)
	}
}

func TestSignedWebhookCancelled(t *testing.T) {
	srv := newFakeServer(t, answer{status: 503})
	retry := fastRetry(t)
	retry.InitialInterval, retry.MaxInterval, retry.MaxElapsed = time.Hour, time.Hour, 10*time.Hour
	n, err := NewWebhook(WebhookOptions{URL: srv.URL, Secret: "k", RetryOptions: retry}, testDeps(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = n.Notify(ctx, firedEvent())
	if err == nil || ctx.Err() == nil {
		t.Fatalf("error %v", err)
	}
	// The dead letter keeps the receiver's answer, not only "deadline
	// exceeded".
	dead := readDeadLetters(t, retry.DeadLetter)
	if len(dead) != 1 || !containsAll(dead[0].Error, "deadline exceeded", "status 503") {
		t.Fatalf("dead letters %+v", dead)
	}
}

func TestSign(t *testing.T) {
	// RFC 4231 test case 2.
	got := Sign([]byte("Jefe"), []byte("what do ya want for nothing?"))
	want := "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		h    string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"5", 5 * time.Second},
		{" 7 ", 7 * time.Second},
		{"0", 0},
		{"-1", 0},
		{"-3", 0},
		{"soon", 0},
		{"Sat, 28 Nov 2026 10:00:30 GMT", 30 * time.Second},
		{"Sat, 28 Nov 2026 09:00:00 GMT", 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.h, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.h, got, tt.want)
		}
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
