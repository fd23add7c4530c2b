package sensors

import (
	"slices"

	"go.yaml.in/yaml/v3"
)

// yamlGuidance reads a site's guidance block:
//
//	guidance:
//	  combustible_gas:
//	    procedure: {zh: "…", en: "…"}
//	    consequence: {zh: "…"}
//
// Kinds must be in the catalog; texts are one line each.
func (l *loader) yamlGuidance(n *yaml.Node) *SiteGuidance {
	if n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null") {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.addf(n.Line, "guidance: want a mapping of kind to procedure and consequence, got %s", DescribeNode(n))
		return nil
	}
	out := SiteGuidance{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.addf(k.Line, "guidance: want a kind as key, got %s", DescribeNode(k))
			continue
		}
		kind := KindID(k.Value)
		if l.kind(k.Line, k.Value) == nil {
			continue
		}
		if _, dup := out[kind]; dup {
			l.addf(k.Line, "guidance: kind %q given twice", k.Value)
			continue
		}
		f, ok := l.fields(v, "guidance "+k.Value, "procedure", "consequence")
		if !ok {
			continue
		}
		out[kind] = Guidance{Procedure: l.yamlText(f.get("procedure"), "procedure"), Consequence: l.yamlText(f.get("consequence"), "consequence")}
	}
	if len(out) == 0 {
		return nil
	}
	return &out
}

// yamlText reads {zh: …, en: …}.
func (l *loader) yamlText(n *yaml.Node, what string) Text {
	if n == nil {
		return Text{}
	}
	f, ok := l.fields(n, what, "zh", "en")
	if !ok {
		return Text{}
	}
	var t Text
	if s, ok := l.str(f, "zh"); ok {
		t.ZH = s
		l.text(f.at("zh"), what, s)
	}
	if s, ok := l.str(f, "en"); ok {
		t.EN = s
		l.text(f.at("en"), what, s)
	}
	return t
}

// guidanceNode writes a site's guidance in the form yamlGuidance reads,
// kinds sorted; nil when there is none.
func guidanceNode(g *SiteGuidance) *yaml.Node {
	if g == nil || len(*g) == 0 {
		return nil
	}
	kinds := make([]string, 0, len(*g))
	for k := range *g {
		kinds = append(kinds, string(k))
	}
	slices.Sort(kinds)
	m := mapNode()
	for _, k := range kinds {
		gd := (*g)[KindID(k)]
		e := mapNode()
		for _, p := range []struct {
			key string
			t   Text
		}{{"procedure", gd.Procedure}, {"consequence", gd.Consequence}} {
			if p.t.IsZero() {
				continue
			}
			t := mapNode()
			if p.t.ZH != "" {
				t.Content = append(t.Content, strNode("zh"), strNode(p.t.ZH))
			}
			if p.t.EN != "" {
				t.Content = append(t.Content, strNode("en"), strNode(p.t.EN))
			}
			e.Content = append(e.Content, strNode(p.key), t)
		}
		m.Content = append(m.Content, strNode(k), e)
	}
	return m
}
