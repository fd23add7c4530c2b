package sensors

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// TestGuidanceDefaults: every kind riskmon ships has a procedure and a
// consequence in both languages.
func TestGuidanceDefaults(t *testing.T) {
	for _, k := range DefaultCatalog().Kinds() {
		g, ok := DefaultGuidance(k.ID)
		if !ok {
			t.Errorf("kind %s has no default guidance", k.ID)
			continue
		}
		for what, s := range map[string]string{"procedure zh": g.Procedure.ZH, "procedure en": g.Procedure.EN,
			"consequence zh": g.Consequence.ZH, "consequence en": g.Consequence.EN} {
			if strings.TrimSpace(s) == "" {
				t.Errorf("kind %s: empty %s", k.ID, what)
			}
		}
	}
}

// TestGuidanceSiteOverride: a site's registry entry replaces the texts it
// gives and keeps the defaults of the others; it survives WriteYAML.
func TestGuidanceSiteOverride(t *testing.T) {
	src := `sites:
  - id: hz-01
    name: Tank farm 1
    sector: hazchem
    guidance:
      combustible_gas:
        procedure: {zh: 按本厂《可燃气体泄漏处置卡》HZ-07 执行, en: Follow card HZ-07}
    sensors:
      - {id: GT-1, kind: combustible_gas, gateway: gw-1}
  - id: hz-02
    sector: hazchem
    sensors:
      - {id: GT-1, kind: combustible_gas, gateway: gw-1}
`
	cat := DefaultCatalog()
	reg, err := LoadYAML(cat, "g.yaml", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	def, _ := DefaultGuidance("combustible_gas")
	s1, _ := reg.Site("hz-01")
	g := GuidanceFor(s1, "combustible_gas")
	if g.Procedure.In("zh") != "按本厂《可燃气体泄漏处置卡》HZ-07 执行" || g.Procedure.In("en") != "Follow card HZ-07" {
		t.Errorf("overridden procedure %+v", g.Procedure)
	}
	if g.Consequence != def.Consequence {
		t.Errorf("consequence %+v, want the default kept", g.Consequence)
	}
	s2, _ := reg.Site("hz-02")
	if got := GuidanceFor(s2, "combustible_gas"); got != def {
		t.Errorf("site without its own guidance: %+v", got)
	}
	var out bytes.Buffer
	if err := reg.WriteYAML(&out); err != nil {
		t.Fatal(err)
	}
	back, err := LoadYAML(cat, "w.yaml", bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	b1, _ := back.Site("hz-01")
	if !reflect.DeepEqual(b1.Guidance, s1.Guidance) {
		t.Errorf("guidance after a round trip %+v, want %+v\n%s", b1.Guidance, s1.Guidance, out.String())
	}
}

// TestGuidanceBadInput: wrong shapes and unknown kinds are reported with
// their line, and nothing else is lost.
func TestGuidanceBadInput(t *testing.T) {
	tests := []struct{ name, block, want string }{
		{"unknown kind", "      no_such_kind: {procedure: {zh: x}}", "no_such_kind"},
		{"unknown key", "      combustible_gas: {steps: {zh: x}}", `unknown key "steps"`},
		{"not a mapping", "      - combustible_gas", "guidance: want a mapping"},
		{"unknown language", "      combustible_gas: {procedure: {fr: x}}", `unknown key "fr"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "sites:\n  - id: a\n    sector: hazchem\n    guidance:\n" + tc.block + "\n    sensors:\n      - {id: G, kind: combustible_gas, gateway: g}\n"
			_, err := LoadYAML(DefaultCatalog(), "bad.yaml", strings.NewReader(src))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bad.yaml:") {
				t.Errorf("error %v, want one naming %q with its line", err, tc.want)
			}
		})
	}
}
