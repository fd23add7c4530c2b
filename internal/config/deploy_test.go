package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/riskmon/riskmon/internal/natsproc"
)

// yamlDocs decodes every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, len(docs)+1, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// dig walks nested maps by key.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// k8sObject is the document of kind and name in docs.
func k8sObject(t *testing.T, docs []map[string]any, kind, name string) map[string]any {
	t.Helper()
	for _, d := range docs {
		if d["kind"] == kind && dig(d, "metadata", "name") == name {
			return d
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return nil
}

// TestDeployClusterConfigs keeps the cluster-mode configurations shipped
// in deploy/ valid as check-config --offline reads them: parsed,
// validated, in cluster mode with three replicas.
func TestDeployClusterConfigs(t *testing.T) {
	compose, err := os.ReadFile("../../deploy/compose/riskmon-cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cm := k8sObject(t, yamlDocs(t, "../../deploy/kubernetes/riskmon-cluster.yaml"), "ConfigMap", "riskmon-cluster-config")
	k8s, _ := dig(cm, "data", "riskmon.yaml").(string)
	for name, data := range map[string]string{"compose": string(compose), "kubernetes": k8s} {
		c, err := Parse([]byte(data))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if !c.ClusterMode() {
			t.Errorf("%s: not in cluster mode", name)
			continue
		}
		opts, err := c.ClusterOptions()
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if opts.Replicas != 3 || len(opts.URLs) != 3 {
			t.Errorf("%s: %d replicas on %d URLs, want 3 on 3 NATS nodes", name, opts.Replicas, len(opts.URLs))
		}
	}
}

// TestDeployClusterManifests checks the shape the cluster's deploy files
// promise (deploy/README.md): three NATS nodes with JetStream on
// persistent volumes and an MQTT listener, two or more riskmon replicas
// with probes.
func TestDeployClusterManifests(t *testing.T) {
	nats := yamlDocs(t, "../../deploy/kubernetes/nats.yaml")
	sts := k8sObject(t, nats, "StatefulSet", "nats")
	if r := dig(sts, "spec", "replicas"); r != 3 {
		t.Errorf("NATS StatefulSet replicas %v, want 3", r)
	}
	if v, _ := dig(sts, "spec", "volumeClaimTemplates").([]any); len(v) != 1 {
		t.Errorf("NATS StatefulSet has %d volume claim templates, want 1 for JetStream", len(v))
	}
	conf, _ := dig(k8sObject(t, nats, "ConfigMap", "nats-config"), "data", "nats.conf").(string)
	for _, want := range []string{"jetstream", "store_dir: /data/jetstream", "mqtt", "cluster"} {
		if !strings.Contains(conf, want) {
			t.Errorf("nats.conf lacks %q", want)
		}
	}

	rm := k8sObject(t, yamlDocs(t, "../../deploy/kubernetes/riskmon-cluster.yaml"), "StatefulSet", "riskmon")
	if r, _ := dig(rm, "spec", "replicas").(int); r < 2 {
		t.Errorf("riskmon replicas %d, want 2 or more", r)
	}
	containers, _ := dig(rm, "spec", "template", "spec", "containers").([]any)
	if len(containers) != 1 {
		t.Fatalf("riskmon pod has %d containers", len(containers))
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := dig(containers[0], probe, "httpGet", "path"); got != path {
			t.Errorf("riskmon %s path %v, want %s", probe, got, path)
		}
	}

	compose := yamlDocs(t, "../../deploy/compose/cluster.yaml")[0]
	services, _ := compose["services"].(map[string]any)
	var natsNodes, instances int
	for name := range services {
		switch {
		case strings.HasPrefix(name, "nats-"):
			natsNodes++
		case strings.HasPrefix(name, "riskmon-"):
			instances++
		}
	}
	if natsNodes != 3 || instances < 2 {
		t.Errorf("compose: %d NATS nodes and %d riskmon instances, want 3 and 2 or more", natsNodes, instances)
	}
}

// TestDeployNATSConfigs has nats-server check the shipped node
// configurations (nats-server -t), with the names the environment
// gives them.
func TestDeployNATSConfigs(t *testing.T) {
	bin, err := natsproc.FindBinary()
	if err != nil {
		t.Fatalf("nats-server is required (make deps installs it): %v", err)
	}
	cm := k8sObject(t, yamlDocs(t, "../../deploy/kubernetes/nats.yaml"), "ConfigMap", "nats-config")
	k8s := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(k8s, []byte(dig(cm, "data", "nats.conf").(string)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, conf := range []string{"../../deploy/nats/nats-cluster.conf", k8s} {
		cmd := exec.Command(bin, "-c", conf, "-t")
		cmd.Env = append(os.Environ(), "NATS_NAME=nats-1", "POD_NAME=nats-0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", conf, err, out)
		}
	}
}
