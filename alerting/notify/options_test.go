package notify

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riskmon/riskmon/alerting/dispatch"
	"go.yaml.in/yaml/v3"
)

// TestOptionsYAML checks that the options decode from the configuration
// file's YAML, the retry keys inline next to the channel's own.
func TestOptionsYAML(t *testing.T) {
	const doc = `
dingtalk:
  name: dt-hz
  url: https://oapi.dingtalk.com/robot/send?access_token=x
  secret: SECabc
  language: en
  timeout: 5s
  max_elapsed: 2m
  dead_letter: /var/lib/riskmon/dingtalk.dead.jsonl
alertmanager:
  url: http://127.0.0.1:9093
  resend_interval: 30s
  labels: {env: prod}
router:
  routes:
    - {notifiers: [dt-hz], min_level: orange, sectors: [hazchem], sites: ["hz-*"], continue: true}
  default: [log]
`
	var got struct {
		DingTalk     DingTalkOptions     `yaml:"dingtalk"`
		Alertmanager AlertmanagerOptions `yaml:"alertmanager"`
		Router       RouterOptions       `yaml:"router"`
	}
	if err := yaml.Unmarshal([]byte(doc), &got); err != nil {
		t.Fatal(err)
	}
	dt := got.DingTalk
	if dt.Name != "dt-hz" || dt.Secret != "SECabc" || dt.Language != "en" || dt.Timeout != 5*time.Second ||
		dt.MaxElapsed != 2*time.Minute || dt.DeadLetter != "/var/lib/riskmon/dingtalk.dead.jsonl" {
		t.Errorf("dingtalk %+v", dt)
	}
	if got.Alertmanager.ResendInterval != 30*time.Second || got.Alertmanager.Labels["env"] != "prod" {
		t.Errorf("alertmanager %+v", got.Alertmanager)
	}
	r := got.Router
	if len(r.Routes) != 1 || r.Routes[0].MinLevel != "orange" || !r.Routes[0].Continue || r.Routes[0].Sites[0] != "hz-*" || r.Default[0] != "log" {
		t.Errorf("router %+v", r)
	}
}

// TestSharedRegisterer checks that channels can share one registerer: the
// second reuses the vectors the first registered.
func TestSharedRegisterer(t *testing.T) {
	srv := newFakeServer(t, answer{status: 200, body: `{"errcode":0}`})
	reg := prometheus.NewRegistry()
	a, err := NewWeCom(WeComOptions{Name: "a", URL: srv.URL, RetryOptions: fastRetry(t)}, testDeps(reg))
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewDingTalk(DingTalkOptions{Name: "b", URL: srv.URL, RetryOptions: fastRetry(t)}, testDeps(reg))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []dispatch.Notifier{a, b, b} {
		if err := n.Notify(context.Background(), firedEvent()); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]float64{"a": 1, "b": 2} {
		if v := metricValue(t, reg, "riskmon_notify_attempts_total", map[string]string{"notifier": name, "result": resultSuccess}); v != want {
			t.Errorf("%s: %v attempts, want %v", name, v, want)
		}
	}
}
