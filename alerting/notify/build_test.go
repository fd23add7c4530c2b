package notify

import (
	"strings"
	"testing"
)

// TestBuild: every channel listed is built, and every bad one is named
// by its key, not only the first.
func TestBuild(t *testing.T) {
	pub := &fakePublisher{}
	tests := []struct {
		name  string
		ch    Channels
		deps  BuildDeps
		names []string // of the notifiers built
		errs  []string // keys the error names, in order
	}{
		{"log and mqtt", Channels{Log: true, MQTT: true}, BuildDeps{Publisher: pub}, []string{"log", "mqtt"}, nil},
		{"mqtt without a publisher", Channels{MQTT: true}, BuildDeps{}, nil, []string{"mqtt: "}},
		{"webhooks named by index", Channels{
			Webhooks:       []WebhookOptions{{URL: "https://a/"}, {URL: "https://b/"}},
			SignedWebhooks: []WebhookOptions{{URL: "https://c/", Secret: "k"}},
		}, BuildDeps{}, []string{"signed_webhook", "webhook-0", "webhook-1"}, nil},
		{"every bad channel named", Channels{
			Webhooks:       []WebhookOptions{{URL: "https://a/"}, {URL: "ftp://b/"}},
			SignedWebhooks: []WebhookOptions{{URL: "https://c/"}},
			DingTalk:       []DingTalkOptions{{URL: "https://d/"}, {}},
		}, BuildDeps{}, nil, []string{"signed_webhooks[0]: secret is required", "dingtalk[1]: ", "webhooks[1]: "}},
		{"routing to an unknown channel", Channels{Log: true, Routing: &RouterOptions{Routes: []Route{{Notifiers: []string{"pager"}}}}},
			BuildDeps{}, nil, []string{"routing: "}},
		{"routing", Channels{Log: true, Routing: &RouterOptions{Default: []string{"log"}}}, BuildDeps{}, []string{"log"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Build(tt.ch, tt.deps)
			if len(tt.errs) > 0 {
				if err == nil {
					t.Fatalf("built %d notifiers, want errors %q", len(b.Notifiers), tt.errs)
				}
				lines := strings.Split(err.Error(), "\n")
				if len(lines) != len(tt.errs) {
					t.Fatalf("error %q, want %d lines", err, len(tt.errs))
				}
				for i, want := range tt.errs {
					if !strings.HasPrefix(lines[i], want) {
						t.Errorf("error line %q, want prefix %q", lines[i], want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, n := range b.Notifiers {
				names = append(names, n.Name())
			}
			if strings.Join(names, ",") != strings.Join(tt.names, ",") {
				t.Errorf("built %v, want %v", names, tt.names)
			}
		})
	}
}
