package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/internal/testenv"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key,
// and returns their paths and the certificate for a client's trust pool.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "riskmon console test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "console.crt"), filepath.Join(dir, "console.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// TestHTTPSConsoleIntegration runs the service with http.tls_cert_file and
// http.tls_key_file on real servers: the listener speaks only TLS, the
// session cookie is Secure, and the console's wired parts answer over it:
// the sensor series read back from InfluxDB, shelving through the
// service's Shelves, and the alarm-system health.
func TestHTTPSConsoleIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	influx := testenv.Influx(t)
	b := testenv.Embedded(t)
	certFile, keyFile, cert := selfSigned(t, t.TempDir())
	hash, err := bcrypt.GenerateFromPassword([]byte("op-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.HTTP.TLSCertFile, cfg.HTTP.TLSKeyFile = certFile, keyFile
	cfg.HTTP.Users = []config.User{{Name: "wang", PasswordHash: string(hash), Role: "operator"}}
	cfg.HTTP.Tokens = []config.Token{{Name: "scada", Token: "op-token", Role: "operator"}}
	cfg.MQTT.Broker, cfg.MQTT.ClientID = b.URL, "riskmon-https"
	cfg.InfluxDB = config.InfluxDB{URL: influx.URL, Bucket: influx.Database}
	f := false
	cfg.Alerting.Notify.MQTT, cfg.Alerting.Notify.Log = &f, &f
	svc, err := New(cfg, gasRegistry(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	addr, err := svc.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	waitUntil(t, "the collector connects", svc.Connected)

	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	base := "https://" + addr
	do := func(method, path, body string, header map[string]string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	if resp, _ := do(http.MethodGet, "/healthz", "", nil); resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("healthz over TLS: %d, tls %v", resp.StatusCode, resp.TLS != nil)
	}
	// Plain HTTP to the same port is refused, not served.
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP answered %d, want 400", resp.StatusCode)
		}
	}
	resp, body := do(http.MethodPost, "/api/v1/login", `{"user":"wang","password":"op-pass"}`, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	var secure bool
	for _, c := range resp.Cookies() {
		if c.Name == "riskmon_session" {
			secure = c.Secure
		}
	}
	if !secure {
		t.Errorf("session cookie over TLS is not Secure: %v", resp.Header.Values("Set-Cookie"))
	}

	// Readings in through MQTT, out through the sensor page's series.
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL).SetClientID("gateway-gw1"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	start := time.Now().Add(-20 * time.Minute).Truncate(time.Minute)
	for i := range 20 { // one a minute, 3 %LEL and a 9 at minute 10
		v := 3
		if i == 10 {
			v = 9
		}
		msg := fmt.Sprintf(`{"ts":%d,"seq":%d,"readings":[{"sensor":"GT-101","value":%d}]}`, start.Add(time.Duration(i)*time.Minute).UnixMilli(), i+1, v)
		if tok := pub.Publish("riskmon/v1/hz-01/gw1/readings", 1, false, msg); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	tok := map[string]string{"Authorization": "Bearer op-token"}
	var series struct {
		Step   string
		Points []struct{ Min, Max, Mean float64 }
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, body := do(http.MethodGet, "/api/v1/sites/hz-01/sensors/GT-101/series", "", tok)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("series: %d %s", resp.StatusCode, body)
		}
		if err := json.Unmarshal([]byte(body), &series); err != nil {
			t.Fatal(err)
		}
		if len(series.Points) > 20 {
			t.Fatalf("%d points for 20 readings: %s", len(series.Points), body)
		}
		if len(series.Points) == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the series shows %d of 20 readings after 60 s; service %+v", len(series.Points), svc.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var peak float64
	for _, p := range series.Points {
		peak = max(peak, p.Max)
	}
	if series.Step != "5s" || peak != 9 {
		t.Errorf("series step %s peak %v, want 5s and 9", series.Step, peak)
	}

	resp, body = do(http.MethodPost, "/api/v1/shelves", `{"mode":"shelved","match":{"site":"hz-01","sensor":"GT-101","rule":"combustible_gas_high"},"reason":"detector being cleaned","duration":"2h"}`, tok)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("shelve: %d %s", resp.StatusCode, body)
	}
	var sh struct{ ID, By string }
	_ = json.Unmarshal([]byte(body), &sh)
	_, listed := do(http.MethodGet, "/api/v1/shelves", "", tok)
	var shelves struct{ Shelves []json.RawMessage }
	_ = json.Unmarshal([]byte(listed), &shelves)
	if sh.By != "scada" || len(shelves.Shelves) != 1 {
		t.Fatalf("shelf %s; service shelves %s", body, listed)
	}
	if resp, body := do(http.MethodPost, "/api/v1/shelves", `{"mode":"shelved","match":{"site":"hz-01"},"reason":"x","duration":"9h"}`, tok); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("shelving past the maximum: %d %s, want 400", resp.StatusCode, body)
	}
	if resp, body := do(http.MethodDelete, "/api/v1/shelves/"+sh.ID, "", tok); resp.StatusCode != http.StatusOK {
		t.Errorf("unshelve: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(http.MethodGet, "/api/v1/alarm-health", "", tok); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"flood_line":10`) {
		t.Errorf("alarm health: %d %s", resp.StatusCode, body)
	}
}
