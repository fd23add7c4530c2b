package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// WriteFailure decides per status whether a write may succeed later:
// refused data is dropped, everything else is retried, and a server that
// says how long to wait is believed up to a minute.
func TestWriteFailure(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		refused    bool
		wait       time.Duration
	}{
		{http.StatusBadRequest, "", true, 0},
		{http.StatusUnprocessableEntity, "", true, 0},
		{http.StatusUnauthorized, "", false, 0},
		{http.StatusForbidden, "", false, 0},
		{http.StatusNotFound, "", false, 0},
		{http.StatusInternalServerError, "", false, 0},
		{http.StatusTooManyRequests, "3", false, 3 * time.Second},
		{http.StatusServiceUnavailable, "2", false, 2 * time.Second},
		{http.StatusServiceUnavailable, "3600", false, time.Minute},
		{http.StatusServiceUnavailable, "", false, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d retry-after %q", tt.status, tt.retryAfter), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				fmt.Fprintf(w, `{"code":"x","message":"status %d"}`, tt.status)
			}))
			defer srv.Close()
			c := New(Options{URL: srv.URL, Bucket: "riskmon"})
			defer c.Close()
			err := c.WriteLines(context.Background(), "reading,site=s value=1 1\n")
			if err == nil {
				t.Fatal("no error")
			}
			refused, wait := WriteFailure(err)
			if refused != tt.refused || wait != tt.wait {
				t.Fatalf("WriteFailure = %v, %s; want %v, %s", refused, wait, tt.refused, tt.wait)
			}
		})
	}
	if refused, wait := WriteFailure(errors.New("connection refused")); refused || wait != 0 {
		t.Errorf("a network error: refused %v, wait %s; want retried at once", refused, wait)
	}
}

// Writes go to the bucket at millisecond precision, with the token.
func TestWriteLinesRequest(t *testing.T) {
	var query, auth, body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query, auth = r.URL.RawQuery, r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := New(Options{URL: srv.URL, Token: "u:p", Bucket: "riskmon/autogen"})
	defer c.Close()
	if err := c.WriteLines(context.Background(), "reading,site=s value=1 1\n"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(query, "precision=ms") || !strings.Contains(query, "bucket=riskmon%2Fautogen") || auth != "Token u:p" {
		t.Errorf("query %q, authorization %q", query, auth)
	}
	if body != "reading,site=s value=1 1\n" {
		t.Errorf("body %q", body)
	}
}

// A buffer lent to WriteLineBytes goes out as it was at the call, and the
// caller may fill it again at once: each request carries its own lines,
// and an empty buffer sends nothing.
func TestWriteLineBytesLendsTheBuffer(t *testing.T) {
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := New(Options{URL: srv.URL, Bucket: "riskmon"})
	defer c.Close()
	buf := make([]byte, 0, 64)
	want := []string{"reading,site=a value=1 1\n", "reading,site=b value=22 2\n", "", "reading,site=c value=3 3\n"}
	for _, lines := range want {
		buf = append(buf[:0], lines...)
		if err := c.WriteLineBytes(context.Background(), buf); err != nil {
			t.Fatal(err)
		}
		clear(buf[:cap(buf)]) // what the forwarder's next batch does to it
	}
	got := strings.Join(bodies, "|")
	if w := "reading,site=a value=1 1\n|reading,site=b value=22 2\n|reading,site=c value=3 3\n"; got != w {
		t.Errorf("bodies %q, want %q", got, w)
	}
}

func TestAlertEventsErrors(t *testing.T) {
	c := New(Options{URL: "http://127.0.0.1:1"})
	defer c.Close()
	if _, err := c.AlertEvents(context.Background(), time.Now()); err == nil {
		t.Error("no bucket: no error")
	}
	c = New(Options{URL: "http://127.0.0.1:1", Bucket: "riskmon"})
	defer c.Close()
	_, err := c.AlertEvents(context.Background(), time.Now())
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("unreachable server: %v", err)
	}
}

func TestPing(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	c := New(Options{URL: srv.URL, Bucket: "riskmon"})
	defer c.Close()
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := c.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("unhealthy: %v", err)
	}
}

// CREATE DATABASE names the database of a "database/retention-policy"
// bucket, with the token.
func TestCreateDatabase(t *testing.T) {
	var q, auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, auth = r.URL.Query().Get("q"), r.Header.Get("Authorization")
		if r.Method != http.MethodPost || r.URL.Path != "/query" {
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	c := New(Options{URL: srv.URL, Token: "u:p", Bucket: "riskmon/autogen"})
	defer c.Close()
	if err := c.CreateDatabase(context.Background()); err != nil {
		t.Fatal(err)
	}
	if q != `CREATE DATABASE "riskmon"` || auth != "Token u:p" {
		t.Errorf("q %q, authorization %q", q, auth)
	}
}
