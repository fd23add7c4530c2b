package storage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unsafe"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"
)

// Options name an InfluxDB 2.x bucket, or a 1.8+ database through its v2
// compatibility API (token "user:password" or empty, org empty, bucket
// "database" or "database/retention-policy").
type Options struct {
	URL    string
	Token  string
	Org    string
	Bucket string
	// Timeout bounds one HTTP request, the whole answer read; default
	// 30 s. A query's context may end it sooner.
	Timeout time.Duration
}

// Client is riskmon's use of influxdb-client-go: blocking writes of line
// protocol (riskmon owns batching and retries; the client's async API
// drops data after its retry window) and Flux queries, both served by
// InfluxDB 2.x and by 1.8 with flux-enabled. It is safe for concurrent
// use.
type Client struct {
	opts   Options
	client influxdb2.Client
	write  api.WriteAPIBlocking
	query  api.QueryAPI
}

// New creates a client; it does not contact the server.
func New(o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	opts := influxdb2.DefaultOptions().
		SetPrecision(time.Millisecond).
		SetHTTPRequestTimeout(uint(max(o.Timeout/time.Second, 1))).
		// The client's own retries apply only to its async API; keep
		// them off so a failure always comes back to our writer.
		SetMaxRetries(0)
	c := influxdb2.NewClientWithOptions(o.URL, o.Token, opts)
	return &Client{opts: o, client: c, write: c.WriteAPIBlocking(o.Org, o.Bucket), query: c.QueryAPI(o.Org)}
}

// Close releases the client's connections.
func (c *Client) Close() { c.client.Close() }

// WriteLines sends line protocol in one request. WriteFailure tells
// whether a failed write may succeed later.
func (c *Client) WriteLines(ctx context.Context, lines string) error {
	return c.write.WriteRecord(ctx, lines)
}

// WriteLineBytes is WriteLines for a buffer the caller fills again once it
// returns. The buffer is lent to the client as a string, not copied: at
// saturation that copy was the service's largest allocation (every byte
// written to InfluxDB, about 13 MB/s at 130,000 readings/s) and a share of
// the garbage collector's work. That is sound because the blocking API
// without batching keeps nothing: it sends the request and returns when
// the answer is read, and InfluxDB answers a write only after reading its
// whole body. The caller must not change lines until the call returns.
func (c *Client) WriteLineBytes(ctx context.Context, lines []byte) error {
	if len(lines) == 0 {
		return nil
	}
	return c.write.WriteRecord(ctx, unsafe.String(unsafe.SliceData(lines), len(lines)))
}

// WriteFailure classifies an error of WriteLines. refused means the
// database refused the data itself (400 for a field type conflict, 422):
// retrying cannot help, and InfluxDB has stored the points it could.
// 401/403/404 are configuration problems an operator can fix, so they are
// not refused: the data is kept and retried. retryAfter is how long a 429
// or 503 asked to wait, at most a minute, or 0.
func WriteFailure(err error) (refused bool, retryAfter time.Duration) {
	var he *influxhttp.Error
	if !errors.As(err, &he) {
		return false, 0
	}
	switch he.StatusCode {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return true, 0
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if he.RetryAfter > 0 {
			return false, min(time.Duration(he.RetryAfter)*time.Second, time.Minute)
		}
	}
	return false, 0
}

// Ping reports whether the server answers its health endpoint.
func (c *Client) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.opts.URL+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("influxdb health: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("influxdb health: %s", resp.Status)
	}
	return nil
}

// CreateDatabase issues CREATE DATABASE for the bucket's database
// through the InfluxDB 1.x query endpoint. InfluxDB 2.x has no such
// statement and needs the bucket made beforehand.
func (c *Client) CreateDatabase(ctx context.Context) error {
	// A 1.x bucket is "database" or "database/retention-policy".
	db, _, _ := strings.Cut(c.opts.Bucket, "/")
	// InfluxQL takes a double-quoted identifier with Go's escapes.
	q := url.Values{"q": {fmt.Sprintf("CREATE DATABASE %q", db)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.opts.URL+"/query?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if c.opts.Token != "" {
		req.Header.Set("Authorization", "Token "+c.opts.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("CREATE DATABASE %s: %s", db, resp.Status)
	}
	return nil
}

// run sends a Flux query; the caller reads and closes the result.
func (c *Client) run(ctx context.Context, flux string) (*api.QueryTableResult, error) {
	if c.opts.URL == "" || c.opts.Bucket == "" {
		return nil, errors.New("InfluxDB URL and bucket are required")
	}
	return c.query.Query(ctx, flux)
}

// toFloat reads a numeric Flux value.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}
