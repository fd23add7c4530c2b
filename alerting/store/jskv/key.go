package jskv

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// escape turns s into one token of a KV key. Keys take letters, digits,
// '-', '_', '/', '=' and '.', and '.' separates tokens, while site ids
// may hold '.' and any Unicode letter, and flapping keys a NUL: every
// byte outside [A-Za-z0-9_-] is written as '=' and two hex digits. The
// empty string is "=", which no escape produces otherwise.
func escape(s string) string {
	if s == "" {
		return "="
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteString(strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	return b.String()
}

// unescape reverses escape; ok is false for a token escape cannot make.
func unescape(t string) (string, bool) {
	if t == "=" {
		return "", true
	}
	if t == "" {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		if t[i] != '=' {
			b.WriteByte(t[i])
			continue
		}
		if i+3 > len(t) {
			return "", false
		}
		v, err := hex.DecodeString(t[i+1 : i+3])
		if err != nil {
			return "", false
		}
		if c := v[0]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			return "", false // escape writes these as they are
		}
		b.WriteByte(v[0])
		i += 2
	}
	return b.String(), true
}

// Key prefixes: one bucket holds every kind of entry.
const (
	prefixRecord  = "rec"   // rec.{site}.{alert id}: an open alert
	prefixHandoff = "hof"   // hof.{hash of the change's key}: a change not yet handed on
	prefixShelf   = "shelf" // shelf.{shelf id}
	prefixFlap    = "flap"  // flap.{site}.{flapping key}
	prefixSent    = "sent"  // sent.{notifier}.{hash of the change's key}
)

func recordKey(site, id string) string { return prefixRecord + "." + escape(site) + "." + escape(id) }
func siteRecords(site string) string   { return prefixRecord + "." + escape(site) + ".*" }
func flapKey(site, k string) string    { return prefixFlap + "." + escape(site) + "." + escape(k) }
func siteFlaps(site string) string     { return prefixFlap + "." + escape(site) + ".*" }

// flapSite is the site inside a flapper key (rule NUL site NUL sensor).
func flapSite(k string) string {
	parts := strings.Split(k, "\x00")
	if len(parts) != 3 {
		return ""
	}
	return parts[1]
}

// tokens splits a key into its prefix and the unescaped tokens after it.
func tokens(key string) (prefix string, rest []string, ok bool) {
	parts := strings.Split(key, ".")
	rest = make([]string, 0, len(parts)-1)
	for _, p := range parts[1:] {
		u, good := unescape(p)
		if !good {
			return "", nil, false
		}
		rest = append(rest, u)
	}
	return parts[0], rest, true
}

// hashKey is a change's key (alerting.Event.Key) as one key token: the
// same 32 hex digits as Event.IdempotencyKey.
func hashKey(k string) string {
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:16])
}
