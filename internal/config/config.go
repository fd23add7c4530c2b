// Package config reads riskmon's YAML configuration file. The reference
// for every key is docs/configuration.md and the commented example
// riskmon.example.yaml at the project root.
package config

import (
	"bytes"
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/riskmon/riskmon/alerting/notify"
	"github.com/riskmon/riskmon/ingest"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/sensors/yamlpos"
	"go.yaml.in/yaml/v3"
)

// Config is the whole file.
type Config struct {
	LogLevel string `yaml:"log_level"`
	// StateDir holds the dead-letter file and other local state.
	StateDir   string               `yaml:"state_dir"`
	HTTP       HTTP                 `yaml:"http"`
	MQTT       MQTT                 `yaml:"mqtt"`
	InfluxDB   InfluxDB             `yaml:"influxdb"`
	Registry   string               `yaml:"registry"`
	Limits     ingest.Limits        `yaml:"limits"`
	DeadLetter DeadLetter           `yaml:"dead_letter"`
	Alerting   Alerting             `yaml:"alerting"`
	Writer     ingest.WriterOptions `yaml:"writer"`
	Spool      ingest.SpoolOptions  `yaml:"spool"`
	Journal    Journal              `yaml:"journal"`
	// Cluster, with urls, runs riskmon on a NATS JetStream cluster.
	Cluster Cluster `yaml:"cluster"`

	// dir is the folder of the file, for relative paths.
	dir string
	// doc is the file's YAML, to place problems at their keys; nil for a
	// configuration Load did not read.
	doc *yamlpos.Doc
}

// HTTP is the metrics, health and API listener.
type HTTP struct {
	Listen string `yaml:"listen"`
	// Tokens are the bearer tokens of machine clients; operator and admin
	// tokens may act (acknowledge an alert).
	Tokens []Token `yaml:"tokens"`
	// Users are the console's accounts. With no user and no token the
	// console and the read API are open and read-only.
	Users []User `yaml:"users"`
	// SessionTTL is how long a console session lasts from login (default
	// 12h, a shift); use does not extend it.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// SessionStore is the file in state_dir that keeps console sessions
	// across a restart (default sessions.db); "" keeps them in memory.
	SessionStore string `yaml:"session_store"`
	// SecureCookies marks the session cookie Secure on plain HTTP too, for
	// a console behind a TLS-terminating proxy.
	SecureCookies bool `yaml:"secure_cookies"`
	// TLSCertFile and TLSKeyFile (PEM, both or neither) make the listener
	// serve HTTPS; session cookies are then always Secure.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// MaxConnections caps the connections served at once (default 256);
	// more wait in the listen queue. Each open console holds one for its
	// event stream.
	MaxConnections int `yaml:"max_connections"`
	// ReadTimeout bounds reading a whole request, body included (default
	// 30s), so a slow body cannot hold a connection.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response (default 60s); the console's
	// event stream sets its own deadline for every write instead.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes a kept-alive connection that sends no request
	// (default 60s).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxBodyBytes caps a request body (default 1 MiB); a longer one is
	// refused with 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// HTTPTLS reports whether the HTTP listener serves TLS, and the resolved
// certificate and key paths.
func (c *Config) HTTPTLS() (cert, key string, ok bool) {
	if c.HTTP.TLSCertFile == "" || c.HTTP.TLSKeyFile == "" {
		return "", "", false
	}
	return c.Path(c.HTTP.TLSCertFile), c.Path(c.HTTP.TLSKeyFile), true
}

// validateHTTPTLS checks the listener's certificate and key at load, so a
// wrong path or a mismatched pair stops riskmon at start with the key
// named, not at the first browser's handshake.
func (c *Config) validateHTTPTLS() string {
	switch cert, key := c.HTTP.TLSCertFile, c.HTTP.TLSKeyFile; {
	case cert == "" && key == "":
		return ""
	case cert == "" || key == "":
		return "http.tls_cert_file and http.tls_key_file go together: set both for HTTPS, or neither"
	}
	cert, key, _ := c.HTTPTLS()
	if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
		return fmt.Sprintf("http.tls_cert_file %s / http.tls_key_file %s: %v", c.HTTP.TLSCertFile, c.HTTP.TLSKeyFile, err)
	}
	return ""
}

// User is one console account.
type User struct {
	Name string `yaml:"name"`
	// PasswordHash is a bcrypt hash, e.g. from
	// htpasswd -bnBC 10 "" 'secret' | tr -d ':\n'
	PasswordHash string `yaml:"password_hash"`
	// Role is viewer, operator or admin; operator or admin may act.
	Role string `yaml:"role"`
}

// Journal is the tamper-evident record of alarms and operator actions.
type Journal struct {
	// Disabled turns the journal off; it is on by default.
	Disabled bool `yaml:"disabled"`
	// Dir holds the segment files, relative to state_dir.
	Dir string `yaml:"dir"`
	// Retention is how long records are kept (default 720h, 30 days).
	Retention time.Duration `yaml:"retention"`
	// Segment is how long one segment file is written (default 24h).
	Segment time.Duration `yaml:"segment"`
	// KeyFile holds the key that seals every record (HMAC-SHA256), so an
	// edited journal cannot be resealed by whoever can write its files.
	// Relative to state_dir, outside the journal directory so that a copy
	// of the journal does not carry it; made with a new random key, mode
	// 0600, when missing. Default journal.key.
	KeyFile string `yaml:"key_file"`
}

// Token is one API client: a bearer token and its role.
type Token struct {
	// Name is who the token speaks for; it is recorded with each change.
	Name      string `yaml:"name"`
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// Role is viewer, operator or admin; operator or admin may act.
	Role string `yaml:"role"`
}

// MQTT is the broker connection.
type MQTT struct {
	Broker       string        `yaml:"broker"`
	ClientID     string        `yaml:"client_id"`
	Username     string        `yaml:"username"`
	Password     string        `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	Topics       []string      `yaml:"topics"`
	Workers      int           `yaml:"workers"`
	QueueSize    int           `yaml:"queue_size"`
	KeepAlive    time.Duration `yaml:"keep_alive"`
	TLS          TLS           `yaml:"tls"`
	// SparkplugHostID makes riskmon a Sparkplug 3.0 Primary Host
	// Application with this id (see docs/protocol.md#primary-host); ""
	// publishes no STATE.
	SparkplugHostID string `yaml:"sparkplug_host_id"`
}

// TLS configures a TLS connection to the broker.
type TLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// InfluxDB is the time-series store.
type InfluxDB struct {
	URL string `yaml:"url"`
	// Token is an InfluxDB 2.x API token, or "user:password" for 1.x.
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	Org       string `yaml:"org"`
	// Bucket is a 2.x bucket, or "database/retention-policy" on 1.x.
	Bucket string `yaml:"bucket"`
	// CreateDatabase issues CREATE DATABASE on start (InfluxDB 1.x only;
	// on 2.x create the bucket beforehand).
	CreateDatabase bool `yaml:"create_database"`
}

// DeadLetter is where rejected input is parked.
type DeadLetter struct {
	Path     string        `yaml:"path"`
	MaxBytes int64         `yaml:"max_bytes"`
	MaxAge   time.Duration `yaml:"max_age"`
	Keep     int           `yaml:"keep"`
	Recent   int           `yaml:"recent"`
	// GatewayBytes per GatewayWindow is what one gateway may write.
	GatewayBytes  int64         `yaml:"gateway_bytes"`
	GatewayWindow time.Duration `yaml:"gateway_window"`
}

// Alerting configures rules and notifications.
type Alerting struct {
	// For is the default on-delay of threshold rules.
	For time.Duration `yaml:"for"`
	// KindFor overrides For per sensor kind.
	KindFor map[string]time.Duration `yaml:"kind_for"`
	// OffDelay is the default off-delay of threshold rules: how long the
	// value must stay past a restore value before the alert leaves that
	// level. KindOffDelay overrides it per sensor kind.
	OffDelay     time.Duration            `yaml:"off_delay"`
	KindOffDelay map[string]time.Duration `yaml:"kind_off_delay"`
	// LateAfter is how long after its device time a reading may arrive
	// and still count as live (default 2m; negative: only the gateway's
	// historical mark makes a reading late).
	LateAfter time.Duration `yaml:"late_after"`
	// Forecast turns the time-to-threshold early warning on (default).
	Forecast *bool `yaml:"forecast"`
	// Rules are rule files (alerting/rulefile), as paths or glob
	// patterns relative to this file; see docs/alerting.md#rule-files.
	Rules []string `yaml:"rules"`
	// LatchRed keeps a level-1 alert listed after it clears, until it is
	// acknowledged.
	LatchRed bool `yaml:"latch_red"`
	// Repeat is how often an active, unacknowledged alert is notified
	// again, by level (red, orange, yellow, blue or 1-4); a level not
	// listed is not repeated. Default red 15m, orange 30m.
	Repeat map[string]time.Duration `yaml:"repeat"`
	// Flapping holds chattering alerts firing.
	Flapping Flapping `yaml:"flapping"`
	// Shelving bounds shelves and out-of-service periods.
	Shelving Shelving `yaml:"shelving"`
	// Operators is how many operator positions share the alarm load, for
	// the alarm-system health figures' per-operator rate.
	Operators int `yaml:"operators"`
	// Store is the embedded alert store (open alerts, shelves, flapping
	// state, notification outbox), inside state_dir.
	Store string `yaml:"store"`
	// SentRetention is how long the keys of sent notifications are kept
	// to refuse a repeat of the same change.
	SentRetention time.Duration `yaml:"sent_retention"`
	Notify        Notify        `yaml:"notify"`
}

// Flapping says when an alert counts as flapping: more than Raises raises
// within Window.
type Flapping struct {
	Raises int           `yaml:"raises"`
	Window time.Duration `yaml:"window"`
}

// Shelving bounds how long alerts may be set aside.
type Shelving struct {
	MaxShelve       time.Duration `yaml:"max_shelve"`
	MaxOutOfService time.Duration `yaml:"max_out_of_service"`
}

// defaultRepeat is alerting.repeat when the file gives none. A map the
// file gives replaces it whole: merged into a default, a key such as
// "1" or "critical" would name red a second time.
var defaultRepeat = map[sensors.Level]time.Duration{sensors.LevelRed: 15 * time.Minute, sensors.LevelOrange: 30 * time.Minute}

// RepeatLevels turns Repeat into levels; two keys naming one level are an
// error.
func (a Alerting) RepeatLevels() (map[sensors.Level]time.Duration, error) {
	if a.Repeat == nil {
		return maps.Clone(defaultRepeat), nil
	}
	out := map[sensors.Level]time.Duration{}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(a.Repeat)) {
		d := a.Repeat[name]
		l, err := sensors.ParseLevel(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("alerting.repeat: %w", err))
			continue
		}
		if _, dup := out[l]; dup {
			errs = append(errs, fmt.Errorf("alerting.repeat: %s names level %s a second time", name, l))
			continue
		}
		if d < 0 {
			errs = append(errs, fmt.Errorf("alerting.repeat.%s: negative interval", name))
			continue
		}
		out[l] = d
	}
	return out, errors.Join(errs...)
}

// Notify lists where alert events go.
type Notify struct {
	Log      *bool     `yaml:"log"`
	MQTT     *bool     `yaml:"mqtt"`
	Webhooks []Webhook `yaml:"webhooks"`
	// SignedWebhooks sign each body with HMAC-SHA256.
	SignedWebhooks []notify.WebhookOptions `yaml:"signed_webhooks"`
	// Alertmanagers receive alerts on /api/v2/alerts.
	Alertmanagers []notify.AlertmanagerOptions `yaml:"alertmanagers"`
	// DingTalk, WeCom and Feishu group robots.
	DingTalk []notify.DingTalkOptions `yaml:"dingtalk"`
	WeCom    []notify.WeComOptions    `yaml:"wecom"`
	Feishu   []notify.FeishuOptions   `yaml:"feishu"`
	// Routing, when set, decides which of the channels above (by name)
	// get an event, by level, sector, site and rule; without it every
	// channel gets every event.
	Routing *notify.RouterOptions `yaml:"routing"`
}

// Webhook is one HTTP receiver of alert events.
type Webhook struct {
	URL        string        `yaml:"url"`
	Timeout    time.Duration `yaml:"timeout"`
	MaxElapsed time.Duration `yaml:"max_elapsed"`
}

// Default is the configuration with nothing set.
func Default() Config {
	return Config{
		LogLevel: "info",
		StateDir: ".state",
		HTTP: HTTP{Listen: "127.0.0.1:9464", SessionStore: "sessions.db", MaxConnections: 256,
			ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 60 * time.Second, MaxBodyBytes: 1 << 20},
		MQTT:     MQTT{Broker: "tcp://127.0.0.1:1883", ClientID: "riskmon-ingest", Workers: 2, QueueSize: 65536, KeepAlive: 30 * time.Second},
		InfluxDB: InfluxDB{URL: "http://127.0.0.1:8086", Bucket: "riskmon"},
		Limits:   ingest.DefaultLimits(),
		DeadLetter: DeadLetter{
			Path: "deadletter.jsonl", MaxBytes: 64 << 20, MaxAge: 24 * time.Hour, Keep: 3, Recent: 200,
			GatewayBytes: 1 << 20, GatewayWindow: time.Hour,
		},
		Journal: Journal{Dir: "journal", KeyFile: "journal.key", Retention: 30 * 24 * time.Hour, Segment: 24 * time.Hour},
		Alerting: Alerting{Store: "alerts.db", SentRetention: 48 * time.Hour,
			Flapping: Flapping{Raises: 3, Window: 10 * time.Minute},
			Shelving: Shelving{MaxShelve: 8 * time.Hour, MaxOutOfService: 7 * 24 * time.Hour}},
		Spool: ingest.SpoolOptions{Dir: "spool", MaxBytes: 1 << 30, SegmentBytes: 64 << 20, CommitInterval: 5 * time.Millisecond, CommitIntervalMax: 20 * time.Millisecond, CommitBytes: 1 << 20},
		dir:   ".",
	}
}

// Load reads a file over the defaults. Unknown keys are errors: a typo in
// a safety system's configuration must not be silently ignored.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	c.dir = filepath.Dir(path)
	// Parse decoded the text, so it is a document: keep its nodes to tell
	// where each key is written.
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) == nil {
		c.doc = yamlpos.NewDoc(path, &doc)
	}
	return c, c.Validate()
}

// Parse decodes YAML over the defaults without resolving paths.
func Parse(data []byte) (Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file stands for "all defaults".
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, err
	}
	return c, nil
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	if errs := c.Problems(); len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Warnings lists what is allowed but risky, each starting with its key:
// check-config prints them and serve logs them at start.
func (c *Config) Warnings() []string { return messages(c.warnings()) }

func (c *Config) warnings() []yamlpos.Problem {
	var out []yamlpos.Problem
	if !loopback(c.HTTP.Listen) {
		if _, _, tls := c.HTTPTLS(); !tls && !c.HTTP.SecureCookies {
			out = append(out, yamlpos.Problem{Key: "http.listen", Msg: fmt.Sprintf("http.listen %s is reachable from the network without TLS: passwords, session cookies and tokens cross it in clear text; set http.tls_cert_file and http.tls_key_file, or serve behind a TLS proxy with http.secure_cookies", c.HTTP.Listen)})
		}
		if len(c.HTTP.Users) == 0 && len(c.HTTP.Tokens) == 0 {
			out = append(out, yamlpos.Problem{Key: "http.listen", Msg: fmt.Sprintf("http.listen %s is reachable from the network with no account configured: anyone who reaches it reads the console, the alarms and the API; add http.users, or listen on 127.0.0.1", c.HTTP.Listen)})
		}
	}
	c.clusterWarnings(func(key, msg string) { out = append(out, yamlpos.Problem{Key: key, Msg: msg}) })
	return out
}

// Check is Problems and Warnings with the key each is about and, for a
// file Load read, the place that key is written, or the nearest
// enclosing key that is (a default left unset names its section, or the
// file alone).
func (c *Config) Check() (problems, warnings []yamlpos.Problem) {
	return c.locate(c.problems()), c.locate(c.warnings())
}

// Problem is msg about key, placed like Check's problems.
func (c *Config) Problem(key, msg string) yamlpos.Problem {
	return c.locate([]yamlpos.Problem{{Key: key, Msg: msg}})[0]
}

func (c *Config) locate(ps []yamlpos.Problem) []yamlpos.Problem {
	if c.doc == nil {
		return ps
	}
	for i, p := range ps {
		ps[i] = c.doc.Problem(p.Key, p.Msg)
	}
	return ps
}

func messages(ps []yamlpos.Problem) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Msg)
	}
	return out
}

// keyIf is key when cond holds, else empty: with cmp.Or, the first key
// whose value is wrong.
func keyIf(cond bool, key string) string {
	if cond {
		return key
	}
	return ""
}

// loopback reports whether a listen address accepts connections from this
// host only: a loopback IP or localhost. An empty host listens on every
// interface.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Problems lists every problem Validate reports, one per entry, each
// starting with the key it is about.
func (c *Config) Problems() []string { return messages(c.problems()) }

// problems are Problems with the key each is about.
func (c *Config) problems() []yamlpos.Problem {
	var errs []yamlpos.Problem
	add := func(key, msg string) { errs = append(errs, yamlpos.Problem{Key: key, Msg: msg}) }
	if c.MQTT.Broker == "" {
		add("mqtt.broker", "mqtt.broker is empty")
	}
	if c.InfluxDB.URL == "" {
		add("influxdb.url", "influxdb.url is empty")
	}
	if c.InfluxDB.Bucket == "" {
		add("influxdb.bucket", "influxdb.bucket is empty")
	}
	if c.Registry == "" {
		add("registry", "registry is empty: name the fleet file (YAML or CSV)")
	}
	if c.MQTT.Workers < 0 || c.MQTT.QueueSize < 0 {
		add(cmp.Or(keyIf(c.MQTT.Workers < 0, "mqtt.workers"), "mqtt.queue_size"), "mqtt.workers and mqtt.queue_size must not be negative")
	}
	for i, tk := range c.HTTP.Tokens {
		switch {
		case tk.Name == "":
			add(fmt.Sprintf("http.tokens[%d]", i), fmt.Sprintf("http.tokens[%d] has no name", i))
		case tk.Token == "" && tk.TokenFile == "":
			add(fmt.Sprintf("http.tokens[%d]", i), fmt.Sprintf("http.tokens[%d] (%s) has neither token nor token_file", i, tk.Name))
		case tk.Role != "viewer" && tk.Role != "operator" && tk.Role != "admin":
			add(fmt.Sprintf("http.tokens[%d]", i), fmt.Sprintf("http.tokens[%d] (%s): role %q is not viewer, operator or admin", i, tk.Name, tk.Role))
		}
	}
	seen := map[string]bool{}
	for i, u := range c.HTTP.Users {
		switch {
		case u.Name == "":
			add(fmt.Sprintf("http.users[%d]", i), fmt.Sprintf("http.users[%d] has no name", i))
		case seen[u.Name]:
			add(fmt.Sprintf("http.users[%d]", i), fmt.Sprintf("http.users[%d]: user %s is listed twice", i, u.Name))
		case !strings.HasPrefix(u.PasswordHash, "$2"):
			add(fmt.Sprintf("http.users[%d]", i), fmt.Sprintf("http.users[%d] (%s): password_hash is not a bcrypt hash (make one with: htpasswd -bnBC 10 \"\" PASSWORD | tr -d ':\\n')", i, u.Name))
		case u.Role != "viewer" && u.Role != "operator" && u.Role != "admin":
			add(fmt.Sprintf("http.users[%d]", i), fmt.Sprintf("http.users[%d] (%s): role %q is not viewer, operator or admin", i, u.Name, u.Role))
		}
		seen[u.Name] = true
	}
	if c.Journal.Retention < 0 || c.Journal.Segment < 0 {
		add(cmp.Or(keyIf(c.Journal.Retention < 0, "journal.retention"), "journal.segment"), "journal.retention and journal.segment must not be negative")
	}
	if c.HTTP.MaxConnections <= 0 || c.HTTP.ReadTimeout <= 0 || c.HTTP.WriteTimeout <= 0 || c.HTTP.IdleTimeout <= 0 || c.HTTP.MaxBodyBytes <= 0 {
		add(cmp.Or(keyIf(c.HTTP.MaxConnections <= 0, "http.max_connections"), keyIf(c.HTTP.ReadTimeout <= 0, "http.read_timeout"),
			keyIf(c.HTTP.WriteTimeout <= 0, "http.write_timeout"), keyIf(c.HTTP.IdleTimeout <= 0, "http.idle_timeout"), "http.max_body_bytes"),
			"http.max_connections, http.read_timeout, http.write_timeout, http.idle_timeout and http.max_body_bytes must be positive: an unbounded listener can be held by anyone who reaches it")
	}
	if e := c.validateHTTPTLS(); e != "" {
		add(cmp.Or(keyIf(c.HTTP.TLSCertFile == "", "http.tls_key_file"), "http.tls_cert_file"), e)
	}
	if c.Alerting.OffDelay < 0 {
		add("alerting.off_delay", "alerting.off_delay must not be negative")
	}
	for k, d := range c.Alerting.KindOffDelay {
		if d < 0 {
			add("alerting.kind_off_delay."+string(k), fmt.Sprintf("alerting.kind_off_delay.%s must not be negative", k))
		}
	}
	if _, err := c.Alerting.RepeatLevels(); err != nil {
		add("alerting.repeat", err.Error())
	}
	if c.Alerting.Flapping.Raises < 0 || c.Alerting.Flapping.Window < 0 || c.Alerting.Shelving.MaxShelve < 0 || c.Alerting.Shelving.MaxOutOfService < 0 {
		add(cmp.Or(keyIf(c.Alerting.Flapping.Raises < 0 || c.Alerting.Flapping.Window < 0, "alerting.flapping"), "alerting.shelving"), "alerting.flapping and alerting.shelving values must not be negative")
	}
	if c.Alerting.Operators < 0 {
		add("alerting.operators", "alerting.operators must not be negative")
	}
	for i, w := range c.Alerting.Notify.Webhooks {
		if !strings.HasPrefix(w.URL, "http://") && !strings.HasPrefix(w.URL, "https://") {
			add(fmt.Sprintf("alerting.notify.webhooks[%d].url", i), fmt.Sprintf("alerting.notify.webhooks[%d].url %q is not http(s)", i, w.URL))
		}
	}
	c.clusterProblems(add)
	return errs
}

// Path resolves p against the config file's folder.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// RuleFiles are the files alerting.rules names, in the order listed and
// sorted within each pattern. A pattern that matches no file is an
// error, a yamlpos.Problem at the pattern: a rule file that silently
// went missing would turn its rules off.
func (c *Config) RuleFiles() ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for i, p := range c.Alerting.Rules {
		matches, err := filepath.Glob(c.Path(p))
		key := fmt.Sprintf("alerting.rules[%d]", i)
		if err != nil {
			return nil, c.Problem(key, fmt.Sprintf("%s %q: %v", key, p, err))
		}
		if len(matches) == 0 {
			return nil, c.Problem(key, fmt.Sprintf("%s %q matches no file", key, p))
		}
		for _, m := range matches {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// StatePath resolves p inside the state folder.
func (c *Config) StatePath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Path(c.StateDir), p)
}

// MQTTPassword is the password, from the file when one is named.
func (c *Config) MQTTPassword() (string, error) {
	return secret(c.MQTT.Password, c.Path(c.MQTT.PasswordFile))
}

// InfluxToken is the token, from the file when one is named.
func (c *Config) InfluxToken() (string, error) {
	return secret(c.InfluxDB.Token, c.Path(c.InfluxDB.TokenFile))
}

func secret(value, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// TLSConfig builds the broker TLS settings, or nil when TLS is off. A
// file that does not load is a yamlpos.Problem at its key.
func (c *Config) TLSConfig() (*tls.Config, error) { return c.buildTLS(c.MQTT.TLS, "mqtt.tls") }

// APITokens resolves the tokens, reading token files. A token file that
// does not read is a yamlpos.Problem at its key.
func (c *Config) APITokens() ([]Token, error) {
	out := make([]Token, 0, len(c.HTTP.Tokens))
	for i, tk := range c.HTTP.Tokens {
		v, err := secret(tk.Token, c.Path(tk.TokenFile))
		if err != nil {
			return nil, c.Problem(fmt.Sprintf("http.tokens[%d].token_file", i), fmt.Sprintf("http.tokens %s: %v", tk.Name, err))
		}
		tk.Token, tk.TokenFile = v, ""
		out = append(out, tk)
	}
	return out, nil
}
