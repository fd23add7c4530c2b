package cluster

import "testing"

func TestSubjectToTopic(t *testing.T) {
	for _, tc := range []struct {
		subject, topic string
		ok             bool
	}{
		{"rmp.3.riskmon.v1.hz-01.gw-1.readings", "riskmon/v1/hz-01/gw-1/readings", true},
		{"rmp.12.riskmon.v1.site//a.gw.lp", "riskmon/v1/site.a/gw/lp", true},
		{"riskmon.v1.a.b.c", "", false},
		{"rmp.3", "", false},
	} {
		got, ok := subjectToTopic(tc.subject)
		if got != tc.topic || ok != tc.ok {
			t.Errorf("subjectToTopic(%q) = %q, %v; want %q, %v", tc.subject, got, ok, tc.topic, tc.ok)
		}
	}
}

func TestTopicToSubjectRoundTrip(t *testing.T) {
	for _, topic := range []string{"riskmon/v1/hz-01/gw-1/readings", "riskmon/v1/a.b/c/status"} {
		got, ok := subjectToTopic("rmp.0." + topicToSubject(topic))
		if !ok || got != topic {
			t.Errorf("round trip of %q gave %q", topic, got)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	good := Options{URLs: []string{"nats://127.0.0.1:4222"}, Instance: "a-1"}.WithDefaults()
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for name, edit := range map[string]func(*Options){
		"no url":       func(o *Options) { o.URLs = nil },
		"bad instance": func(o *Options) { o.Instance = "a.b" },
		"partitions":   func(o *Options) { o.Partitions = MaxPartitions + 1 },
		"replicas":     func(o *Options) { o.Replicas = 2 },
		"lease":        func(o *Options) { o.LeaseTTL = 100e6 },
	} {
		o := good
		edit(&o)
		if o.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
