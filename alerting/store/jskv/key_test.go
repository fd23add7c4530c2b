package jskv

import "testing"

func TestEscapeRoundTrip(t *testing.T) {
	cases := []struct{ in, want string }{
		{"hz-01", "hz-01"},
		{"site.a", "site=2Ea"},
		{"", "="},
		{"矿井", "=E7=9F=BF=E4=BA=95"},
		{"ch4_high\x00hz-01\x00GT-101", "ch4_high=00hz-01=00GT-101"},
		{"a=b", "a=3Db"},
		{"a/b c", "a=2Fb=20c"},
	}
	for _, c := range cases {
		got := escape(c.in)
		if got != c.want {
			t.Errorf("escape(%q) = %q, want %q", c.in, got, c.want)
		}
		back, ok := unescape(got)
		if !ok || back != c.in {
			t.Errorf("unescape(%q) = %q, %v; want %q", got, back, ok, c.in)
		}
	}
}

func TestUnescapeRefuses(t *testing.T) {
	for _, in := range []string{"", "=4", "=ZZ", "ab=", "=41"} {
		if got, ok := unescape(in); ok {
			t.Errorf("unescape(%q) = %q, ok; want refused", in, got)
		}
	}
}

func TestFlapSite(t *testing.T) {
	cases := map[string]string{
		"ch4_high\x00hz-01\x00GT-101": "hz-01",
		"ch4_high\x00\x00GT-101":      "",
		"no separators":               "",
	}
	for in, want := range cases {
		if got := flapSite(in); got != want {
			t.Errorf("flapSite(%q) = %q, want %q", in, got, want)
		}
	}
}
