package config

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

func TestExampleFileIsTheDefaults(t *testing.T) {
	c, err := Load("../../riskmon.example.yaml")
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	d := Default()
	if c.MQTT.Broker != d.MQTT.Broker || c.InfluxDB.URL != d.InfluxDB.URL || c.Writer.FlushInterval != 100*time.Millisecond ||
		c.Limits.MaxFuture != d.Limits.MaxFuture || c.Limits.MaxPast != d.Limits.MaxPast || c.HTTP.Listen != d.HTTP.Listen {
		t.Errorf("example differs from defaults: %+v", c)
	}
	if got := c.Path(c.Registry); got != filepath.Join("../..", "deploy/examples/fleet.yaml") {
		t.Errorf("registry path = %s", got)
	}
	if _, err := os.Stat(c.Path(c.Registry)); err != nil {
		t.Errorf("example registry: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "registry: r.yaml\nmqtt:\n  brokr: tcp://x:1\n", "field brokr not found"},
		{"bad duration", "registry: r.yaml\nwriter:\n  flush_interval: soon\n", "line 3: cannot unmarshal !!str `soon` into time.Duration"},
		{"no registry", "log_level: info\n", "registry is empty"},
		{"several at once", "mqtt:\n  broker: \"\"\ninfluxdb:\n  url: \"\"\n", "mqtt.broker is empty; influxdb.url is empty"},
		{"bad webhook", "registry: r.yaml\nalerting:\n  notify:\n    webhooks: [{url: ftp://x}]\n", "webhooks[0].url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tok"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("registry: r.yaml\ninfluxdb:\n  token_file: tok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := c.InfluxToken(); err != nil || tok != "s3cret" {
		t.Fatalf("token = %q, %v", tok, err)
	}
}

func TestNotificationChannels(t *testing.T) {
	c, err := Parse([]byte(`registry: r.yaml
alerting:
  notify:
    dingtalk: [{url: "https://oapi.dingtalk.com/robot/send?access_token=x", secret: SECx, dead_letter: dt.jsonl}]
    alertmanagers: [{url: "http://127.0.0.1:9093", resend_interval: 30s}]
    routing:
      routes: [{notifiers: [dingtalk], min_level: orange, sectors: [hazchem]}]
      default: [log]
`))
	if err != nil {
		t.Fatal(err)
	}
	n := c.Alerting.Notify
	if len(n.DingTalk) != 1 || n.DingTalk[0].Secret != "SECx" || n.DingTalk[0].DeadLetter != "dt.jsonl" {
		t.Errorf("dingtalk = %+v", n.DingTalk)
	}
	if len(n.Alertmanagers) != 1 || n.Alertmanagers[0].ResendInterval != 30*time.Second {
		t.Errorf("alertmanagers = %+v", n.Alertmanagers)
	}
	if n.Routing == nil || len(n.Routing.Routes) != 1 || n.Routing.Routes[0].MinLevel != "orange" {
		t.Errorf("routing = %+v", n.Routing)
	}
}

// TestDeployConfigs keeps the configurations shipped in deploy/ valid.
func TestDeployConfigs(t *testing.T) {
	compose, err := os.ReadFile("../../deploy/compose/riskmon.yaml")
	if err != nil {
		t.Fatal(err)
	}
	k8s, err := os.ReadFile("../../deploy/kubernetes/riskmon.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The ConfigMap embeds the file under "riskmon.yaml: |".
	_, body, ok := strings.Cut(string(k8s), "riskmon.yaml: |\n")
	if !ok {
		t.Fatal("no riskmon.yaml in the Kubernetes ConfigMap")
	}
	body, _, _ = strings.Cut(body, "\n---")
	var lines []string
	for _, l := range strings.Split(body, "\n") {
		lines = append(lines, strings.TrimPrefix(l, "    "))
	}
	for name, data := range map[string]string{"compose": string(compose), "kubernetes": strings.Join(lines, "\n")} {
		c, err := Parse([]byte(data))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestRepeatLevels(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       map[sensors.Level]time.Duration
		err        string
	}{
		{"default", "", map[sensors.Level]time.Duration{sensors.LevelRed: 15 * time.Minute, sensors.LevelOrange: 30 * time.Minute}, ""},
		{"given map replaces the default", "alerting: {repeat: {1: 5m}}\n", map[sensors.Level]time.Duration{sensors.LevelRed: 5 * time.Minute}, ""},
		{"one level named twice", "alerting: {repeat: {red: 5m, critical: 0s}}\n", nil, "a second time"},
		{"unknown level", "alerting: {repeat: {purple: 5m}}\n", nil, "unknown level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Alerting.RepeatLevels()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestWarningsOpenListener(t *testing.T) {
	tests := []struct {
		listen    string
		tls, user bool
		want      int // warnings
	}{
		{"127.0.0.1:9464", false, false, 0},
		{"[::1]:9464", false, false, 0},
		{"localhost:9464", false, false, 0},
		{":9464", false, false, 2},
		{"0.0.0.0:9464", false, false, 2},
		{"10.0.0.5:9464", false, true, 1},
		{"10.0.0.5:9464", true, false, 1},
		{"[::]:9464", true, true, 0},
	}
	for _, tt := range tests {
		c := Default()
		c.HTTP.Listen = tt.listen
		if tt.tls {
			c.HTTP.TLSCertFile, c.HTTP.TLSKeyFile = "cert.pem", "key.pem"
		}
		if tt.user {
			c.HTTP.Users = []User{{Name: "wang", Role: "operator"}}
		}
		if got := c.Warnings(); len(got) != tt.want {
			t.Errorf("%s tls=%v users=%v: %q, want %d warnings", tt.listen, tt.tls, tt.user, got, tt.want)
		}
	}
}

// TestCheckPlacesProblems: each problem of a loaded file carries its key
// and the place that key is written, or the nearest enclosing key that
// is.
func TestCheckPlacesProblems(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	text := "mqtt:\n  broker: \"\"\n  workers: 2\nhttp:\n  tokens:\n    - {name: ci, token: x, role: boss}\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err == nil {
		t.Fatal("Load accepted an empty broker")
	}
	problems, _ := c.Check()
	want := map[string]string{
		"mqtt.broker":    path + ":2:3",
		"http.tokens[0]": path + ":6:7",
		"registry":       path, // not written: the file alone
	}
	for _, p := range problems {
		if w, ok := want[p.Key]; ok {
			if got := p.Pos().String(); got != w {
				t.Errorf("%s at %s, want %s", p.Key, got, w)
			}
			delete(want, p.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("no problem for %v in %+v", want, problems)
	}
}
