package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePair writes a self-signed certificate and its key as name.crt and
// name.key in dir.
func writePair(t *testing.T, dir, name string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for file, block := range map[string]*pem.Block{
		name + ".crt": {Type: "CERTIFICATE", Bytes: der},
		name + ".key": {Type: "EC PRIVATE KEY", Bytes: kder},
	} {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHTTPTLS(t *testing.T) {
	dir := t.TempDir()
	writePair(t, dir, "a")
	writePair(t, dir, "b")
	for _, tc := range []struct {
		name, http, want string // want "" loads
	}{
		{"neither", "", ""},
		{"both, relative to the file", "tls_cert_file: a.crt\n  tls_key_file: a.key", ""},
		{"cert only", "tls_cert_file: a.crt", "http.tls_cert_file and http.tls_key_file go together"},
		{"key only", "tls_key_file: a.key", "http.tls_cert_file and http.tls_key_file go together"},
		{"missing file", "tls_cert_file: nope.crt\n  tls_key_file: a.key", "http.tls_cert_file nope.crt / http.tls_key_file a.key: open"},
		{"key of another certificate", "tls_cert_file: a.crt\n  tls_key_file: b.key", "private key does not match public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "c.yaml")
			yaml := "registry: r.yaml\n"
			if tc.http != "" {
				yaml += "http:\n  " + tc.http + "\n"
			}
			if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Load error = %v, want it to mention %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cert, key, ok := c.HTTPTLS()
			if tc.http == "" {
				if ok {
					t.Fatalf("TLS on without files: %s %s", cert, key)
				}
				return
			}
			if !ok || cert != filepath.Join(dir, "a.crt") || key != filepath.Join(dir, "a.key") {
				t.Fatalf("HTTPTLS = %s, %s, %v; want the files next to the config", cert, key, ok)
			}
		})
	}
}
