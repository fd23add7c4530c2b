package config

import (
	"os"
	"testing"
)

// FuzzParse: any configuration text is parsed or refused with an error,
// never a panic, and validating what parsed never panics either; a valid
// one has valid repeat levels.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../../riskmon.example.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("mqtt: {broker: \"tcp://127.0.0.1:1883\"}\nalerting: {repeat: {red: 1m, purple: 2m}}\n"))
	f.Add([]byte("http: {tokens: [{name: a}]}\n"))
	f.Add([]byte("- a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil || c.Validate() != nil {
			return
		}
		if _, err := c.Alerting.RepeatLevels(); err != nil {
			t.Fatalf("accepted a configuration whose repeat levels are bad: %v", err)
		}
	})
}
