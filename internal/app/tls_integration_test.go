package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/internal/mosquittoproc"
	"github.com/riskmon/riskmon/internal/testenv"
	"github.com/riskmon/riskmon/sensors"
)

// writeCerts makes a CA and a server certificate for 127.0.0.1.
func writeCerts(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "riskmon test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", der), write("server.key", "EC PRIVATE KEY", keyDER)
}

// TestTLSAndPasswordIntegration runs the service against a Mosquitto that
// takes only TLS with a password: readings flow with the right
// credentials, and a wrong password leaves the service not ready.
func TestTLSAndPasswordIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	influx := testenv.Influx(t)
	dir := t.TempDir()
	caFile, certFile, keyFile := writeCerts(t, dir)
	pwFile := filepath.Join(dir, "passwd")
	passwd, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Fatalf("mosquitto_passwd is required (Debian package mosquitto): %v", err)
	}
	if out, err := exec.Command(passwd, "-c", "-b", pwFile, "riskmon", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
	}
	mdir := filepath.Join(dir, "mosquitto")
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := mosquittoproc.StartSecure(mdir, certFile, keyFile, pwFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)

	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(),
		[]sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mqtt-password"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	newCfg := func(password string, clientID string) config.Config {
		cfg := config.Default()
		cfg.StateDir = t.TempDir()
		cfg.HTTP.Listen = "127.0.0.1:0"
		cfg.MQTT.Broker = m.URL
		cfg.MQTT.ClientID = clientID
		cfg.MQTT.Username = "riskmon"
		cfg.MQTT.Password = password
		cfg.MQTT.TLS = config.TLS{Enabled: true, CAFile: caFile}
		cfg.InfluxDB.URL = influx.URL
		f := false
		cfg.Alerting.Notify.Log, cfg.Alerting.Notify.MQTT = &f, &f
		return cfg
	}
	log := slog.New(slog.DiscardHandler)

	t.Run("wrong password", func(t *testing.T) {
		svc, err := New(newCfg("wrong", "riskmon-tls-bad"), reg, log)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- svc.Run(ctx) }()
		time.Sleep(2 * time.Second)
		if err := svc.Ready(context.Background()); err == nil {
			t.Error("ready with a wrong broker password")
		}
		cancel()
		<-done
	})

	t.Run("password from file over TLS", func(t *testing.T) {
		cfg := newCfg("", "riskmon-tls")
		cfg.MQTT.PasswordFile = filepath.Join(dir, "mqtt-password")
		svc, err := New(cfg, reg, log)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- svc.Run(ctx) }()
		deadline := time.Now().Add(20 * time.Second)
		for svc.Ready(context.Background()) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("not ready over TLS: %v", svc.Ready(context.Background()))
			}
			time.Sleep(50 * time.Millisecond)
		}
		tlsConf, err := cfg.TLSConfig()
		if err != nil {
			t.Fatal(err)
		}
		pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(m.URL).SetClientID("tls-pub").
			SetUsername("riskmon").SetPassword("s3cret").SetTLSConfig(tlsConf))
		if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publisher: %v", tok.Error())
		}
		defer pub.Disconnect(50)
		base := time.Now().Add(-time.Minute).Truncate(time.Second)
		for i := range 10 {
			tok := pub.Publish("riskmon/v1/hz-01/gw1/readings", 1, false,
				fmt.Sprintf(`{"ts":%d,"readings":[{"sensor":"GT-101","value":%d}]}`, base.Add(time.Duration(i)*time.Second).UnixMilli(), i))
			if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatal(tok.Error())
			}
		}
		for svc.Stats().Written < 10 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		n, err := svc.ReadingsStored(context.Background(), base.Add(-time.Minute), base.Add(time.Minute))
		if err != nil || n != 10 {
			t.Fatalf("stored %d readings over TLS (err %v), want 10", n, err)
		}
	})
}
