package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClusterSection(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // problems, each a substring; none: valid
	}{
		{"none", "registry: r.yaml\n", nil},
		{"defaults", "registry: r.yaml\ncluster:\n  urls: [nats://127.0.0.1:4222]\n", nil},
		{"bad url", "registry: r.yaml\ncluster:\n  urls: [tcp://127.0.0.1:1883]\n", []string{"cluster.urls[0] \"tcp://127.0.0.1:1883\" is not a NATS URL"}},
		{"bad instance", "registry: r.yaml\ncluster:\n  urls: [nats://a:4222]\n  instance_id: a.b\n", []string{"cluster.instance_id \"a.b\""}},
		{"partitions and replicas", "registry: r.yaml\ncluster:\n  urls: [nats://a:4222]\n  partitions: 2000\n  replicas: 2\n",
			[]string{"cluster.partitions 2000", "cluster.replicas 2"}},
		{"short lease", "registry: r.yaml\ncluster:\n  urls: [nats://a:4222]\n  lease_ttl: 100ms\n", []string{"cluster.lease_ttl and cluster.ack_wait"}},
		{"missing credentials", "registry: r.yaml\ncluster:\n  urls: [nats://a:4222]\n  credentials_file: nope.creds\n", []string{"cluster.credentials_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load accepted it; want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load error = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestClusterOptions(t *testing.T) {
	c, err := Parse([]byte("registry: r.yaml\ncluster:\n  urls: [nats://a:4222, nats://b:4222]\n  instance_id: east-1\n  partitions: 8\n  lease_ttl: 2s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.ClusterMode() {
		t.Fatal("not in cluster mode")
	}
	o, err := c.ClusterOptions()
	if err != nil {
		t.Fatal(err)
	}
	if o.Instance != "east-1" || o.Partitions != 8 || o.Replicas != 3 || o.LeaseTTL != 2*time.Second || len(o.URLs) != 2 || o.Stream != "RISKMON" {
		t.Errorf("options = %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("options do not validate: %v", err)
	}
	d := Default()
	if d.ClusterMode() {
		t.Error("the defaults are in cluster mode")
	}
	if o, _ := (&Config{Cluster: Cluster{URLs: []string{"nats://a:4222"}}}).ClusterOptions(); o.Instance == "" {
		t.Error("no instance id from the host name")
	}
}

func TestClusterWarnings(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"one replica", "registry: r.yaml\ncluster:\n  urls: [nats://a:4222]\n  replicas: 1\n", "cluster.replicas is 1"},
		{"Primary Host in cluster mode", "registry: r.yaml\nmqtt:\n  sparkplug_host_id: scada\ncluster:\n  urls: [nats://a:4222]\n", "sparkplug_host_id is not used in cluster mode"},
		{"Primary Host single-node", "registry: r.yaml\nmqtt:\n  sparkplug_host_id: scada\n", ""},
	} {
		c, err := Parse([]byte(tc.yaml))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		w := strings.Join(c.Warnings(), "\n")
		if tc.want == "" && strings.Contains(w, "cluster") || tc.want != "" && !strings.Contains(w, tc.want) {
			t.Errorf("%s: warnings = %q, want %q", tc.name, w, tc.want)
		}
	}
}
