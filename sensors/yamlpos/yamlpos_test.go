package yamlpos

import (
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

const sample = `mqtt:
  broker: tcp://x
http:
  tokens:
    - name: ci
      role: boss
    - {name: b, role: viewer}
alerting:
  notify:
    webhooks:
      - url: ftp://x
`

func TestLocate(t *testing.T) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(sample), &n); err != nil {
		t.Fatal(err)
	}
	d := NewDoc("c.yaml", &n)
	tests := []struct {
		key  string
		want string
	}{
		{"mqtt.broker", "c.yaml:2:3"},
		{"http.tokens[0]", "c.yaml:5:7"},
		{"http.tokens[0].role", "c.yaml:6:7"},
		{"http.tokens[1]", "c.yaml:7:7"},
		{"alerting.notify.webhooks[0].url", "c.yaml:11:9"},
		// Not written: the nearest enclosing key that is.
		{"http.tokens[5]", "c.yaml:4:3"},
		{"mqtt.password_file", "c.yaml:1:1"},
		{"influxdb.url", "c.yaml"},
		{"", "c.yaml"},
		// A list index where a mapping is, and the reverse.
		{"mqtt[0]", "c.yaml:1:1"},
		{"http.tokens.name", "c.yaml:4:3"},
		{"http.tokens[x]", "c.yaml:4:3"},
	}
	for _, tt := range tests {
		if got := d.Locate(tt.key).String(); got != tt.want {
			t.Errorf("Locate(%q) = %s, want %s", tt.key, got, tt.want)
		}
	}
	if got := NewDoc("e.yaml", &yaml.Node{}).Locate("a.b").String(); got != "e.yaml" {
		t.Errorf("empty document: %s", got)
	}
	var nilDoc *Doc
	if got := nilDoc.Locate("a"); got != (Pos{}) {
		t.Errorf("nil doc: %+v", got)
	}
}

func TestProblemText(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "f.yaml", Line: 3, Column: 5, Msg: "bad"}, "f.yaml:3:5: bad"},
		{Problem{File: "f.yaml", Line: 3, Msg: "bad"}, "f.yaml:3: bad"},
		{Problem{File: "f.yaml", Msg: "bad"}, "f.yaml: bad"},
		{Problem{Msg: "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.p.Error(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.p, got, tt.want)
		}
	}
	e := &LoadError{Problems: []Problem{tests[0].p, tests[2].p}}
	if got := e.Error(); got != "f.yaml:3:5: bad\nf.yaml: bad" {
		t.Errorf("LoadError: %q", got)
	}
}

func TestSplitKey(t *testing.T) {
	got := SplitKey("a.b[2][3].c")
	if want := []string{"a", "b", "[2]", "[3]", "c"}; !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
}

func TestDecodeProblems(t *testing.T) {
	type cfg struct {
		A int `yaml:"a"`
	}
	var c cfg
	dec := func(s string) error {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(s), &n); err != nil {
			return err
		}
		return n.Decode(&c)
	}
	got := DecodeProblems("f.yaml", dec("a: [1\n"))
	if len(got) != 1 || got[0].Line == 0 || got[0].File != "f.yaml" {
		t.Errorf("syntax error: %+v", got)
	}
	got = DecodeProblems("f.yaml", dec("a: x\n"))
	if len(got) != 1 || got[0].Line != 1 || got[0].Msg == "" || got[0].Msg[0] == 'l' {
		t.Errorf("type error: %+v", got)
	}
	line, msg := ErrorLine(dec("a: x\nb: [\n"))
	if line == 0 || msg == "" {
		t.Errorf("ErrorLine: %d %q", line, msg)
	}
}
