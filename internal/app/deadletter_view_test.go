package app

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/ingest"
	"github.com/riskmon/riskmon/internal/config"
)

// TestDeadLetterView: with no account configured, /api/v1/deadletter shows
// what was rejected and why but neither the payloads nor where the file
// lies on the host; a caller with an account sees the payloads.
func TestDeadLetterView(t *testing.T) {
	const payload = `{"gw":"gw1","secret":"s3cr3t-reading-batch"}`
	for _, tc := range []struct {
		name   string
		tokens []config.Token
		auth   string
		want   bool // payload shown
	}{
		{"open mode, anonymous", nil, "", false},
		{"viewer token", []config.Token{{Name: "wall", Token: "view-token", Role: "viewer"}}, "Bearer view-token", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, cfg := quietServiceConfig(t, func(c *config.Config) { c.HTTP.Tokens = tc.tokens })
			if err := svc.deadLetter.Add(ingest.DeadLetterEntry{Time: time.Now(), Topic: "riskmon/hz-01/gw1/readings", Reason: "bad_json", Detail: "unexpected end"},
				[]byte(payload)); err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/api/v1/deadletter", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			svc.Handler().ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code != http.StatusOK || !strings.Contains(body, `"bad_json"`) {
				t.Fatalf("%d %s", rec.Code, body)
			}
			if strings.Contains(body, cfg.StateDir) || !strings.Contains(body, `"file":"deadletter.jsonl"`) {
				t.Errorf("file path leaks or is missing: %s", body)
			}
			if shown := strings.Contains(body, "s3cr3t-reading-batch"); shown != tc.want {
				t.Errorf("payload shown %v, want %v: %s", shown, tc.want, body)
			}
			if !tc.want && !strings.Contains(body, `"payload_withheld":true`) {
				t.Errorf("withheld payload not marked: %s", body)
			}
		})
	}
}
