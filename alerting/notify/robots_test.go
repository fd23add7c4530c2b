package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riskmon/riskmon/alerting/dispatch"
)

const wantTitleZH = "【橙色 · 一级报警 (≥25 %LEL)】可燃气体高限报警 GT-101 @ hz-01：27.3 %LEL ≥ 25 %LEL"

// robotCase runs one notifier against a fake robot: the answers it gets,
// how many requests it should make and whether it should fail.
type robotCase struct {
	name     string
	answers  []answer
	requests int
	wantErr  bool
}

// robotCases are the same for every robot except the codes.
func robotCases(rateLimit, other int) []robotCase {
	ok := answer{status: 200, body: `{"errcode":0,"errmsg":"ok"}`}
	code := func(c int) answer {
		return answer{status: 200, body: `{"errcode":` + strconv.Itoa(c) + `,"errmsg":"nope"}`}
	}
	return []robotCase{
		{"ok", []answer{ok}, 1, false},
		{"rate limit code retried", []answer{code(rateLimit), code(rateLimit), ok}, 3, false},
		{"other code not retried", []answer{code(other), ok}, 1, true},
		{"5xx retried", []answer{{status: 502, body: "bad gateway"}, ok}, 2, false},
		{"429 retried", []answer{{status: 429, header: map[string]string{"Retry-After": "0"}}, ok}, 2, false},
		{"4xx not retried", []answer{{status: 404, body: "no such robot"}, ok}, 1, true},
		{"not JSON not retried", []answer{{status: 200, body: "<html>"}, ok}, 1, true},
	}
}

// runRobotCases checks retries, dead letters and metrics for a robot; mk
// builds the notifier for a server URL, check verifies each request.
func runRobotCases(t *testing.T, cases []robotCase, mk func(t *testing.T, url string, reg prometheus.Registerer, retry RetryOptions) dispatch.Notifier, check func(t *testing.T, r recorded)) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, tc.answers...)
			reg := prometheus.NewRegistry()
			retry := fastRetry(t)
			n := mk(t, srv.URL+"/send?access_token=tok", reg, retry)
			err := n.Notify(context.Background(), firedEvent())
			if (err != nil) != tc.wantErr {
				t.Fatalf("Notify error %v, want error %v", err, tc.wantErr)
			}
			got := srv.got()
			if len(got) != tc.requests {
				t.Fatalf("%d requests, want %d", len(got), tc.requests)
			}
			for _, r := range got {
				check(t, r)
			}
			dead := readDeadLetters(t, retry.DeadLetter)
			wantDead := 0
			if tc.wantErr {
				wantDead = 1
			}
			if len(dead) != wantDead {
				t.Fatalf("%d dead letters, want %d", len(dead), wantDead)
			}
			if wantDead == 1 {
				e := dead[0]
				if e.Notifier != n.Name() || e.Event.AlertID != firedEvent().AlertID || e.Error == "" || !e.Time.Equal(testNow) {
					t.Errorf("dead letter %+v", e)
				}
			}
			if v := metricValue(t, reg, "riskmon_notify_dead_letters_total", map[string]string{"notifier": n.Name()}); v != float64(wantDead) {
				t.Errorf("dead letters metric %v, want %d", v, wantDead)
			}
			var attempts float64
			for _, res := range []string{resultSuccess, resultRetryable, resultPermanent} {
				attempts += metricValue(t, reg, "riskmon_notify_attempts_total", map[string]string{"notifier": n.Name(), "result": res})
			}
			if attempts != float64(tc.requests) {
				t.Errorf("attempts metric %v, want %d", attempts, tc.requests)
			}
		})
	}
}

func TestDingTalk(t *testing.T) {
	const secret = "SEC0123456789abcdef"
	mk := func(t *testing.T, u string, reg prometheus.Registerer, retry RetryOptions) dispatch.Notifier {
		n, err := NewDingTalk(DingTalkOptions{URL: u, Secret: secret, RetryOptions: retry}, testDeps(reg))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	check := func(t *testing.T, r recorded) {
		t.Helper()
		u, err := url.Parse(r.URL)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if q.Get("access_token") != "tok" {
			t.Errorf("access_token lost: %s", r.URL)
		}
		// DingTalk: timestamp in ms; sign = urlencode(base64(HmacSHA256(
		// key=secret, timestamp+"\n"+secret))).
		ts := q.Get("timestamp")
		if ts != strconv.FormatInt(testNow.UnixMilli(), 10) {
			t.Errorf("timestamp %q, want %d", ts, testNow.UnixMilli())
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts + "\n" + secret))
		want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if q.Get("sign") != want {
			t.Errorf("sign %q, want %q", q.Get("sign"), want)
		}
		if !strings.Contains(u.RawQuery, "sign="+url.QueryEscape(want)) {
			t.Errorf("sign not URL-encoded in %q", u.RawQuery)
		}
		var body struct {
			MsgType  string `json:"msgtype"`
			Markdown struct {
				Title string `json:"title"`
				Text  string `json:"text"`
			} `json:"markdown"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.MsgType != "markdown" || body.Markdown.Title != wantTitleZH || !strings.Contains(body.Markdown.Text, wantTitleZH) {
			t.Errorf("payload %s", r.Body)
		}
	}
	runRobotCases(t, robotCases(130101, 310000), mk, check)
}

func TestDingTalkUnsigned(t *testing.T) {
	srv := newFakeServer(t, answer{status: 200, body: `{"errcode":0,"errmsg":"ok"}`})
	n, err := NewDingTalk(DingTalkOptions{URL: srv.URL + "/send?access_token=tok", RetryOptions: fastRetry(t)}, testDeps(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), firedEvent()); err != nil {
		t.Fatal(err)
	}
	if got := srv.got()[0].URL; got != "/send?access_token=tok" {
		t.Errorf("URL %q, want it unchanged", got)
	}
}

func TestWeCom(t *testing.T) {
	mk := func(t *testing.T, u string, reg prometheus.Registerer, retry RetryOptions) dispatch.Notifier {
		n, err := NewWeCom(WeComOptions{URL: u, RetryOptions: retry}, testDeps(reg))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	check := func(t *testing.T, r recorded) {
		t.Helper()
		var body struct {
			MsgType  string `json:"msgtype"`
			Markdown struct {
				Content string `json:"content"`
			} `json:"markdown"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.MsgType != "markdown" || !strings.Contains(body.Markdown.Content, wantTitleZH) {
			t.Errorf("payload %s", r.Body)
		}
		if r.URL != "/send?access_token=tok" {
			t.Errorf("URL %q", r.URL)
		}
	}
	runRobotCases(t, robotCases(45009, 93000), mk, check)
}

func TestFeishu(t *testing.T) {
	const secret = "feishu-secret"
	for _, msgType := range []string{FeishuText, FeishuInteractive} {
		t.Run(msgType, func(t *testing.T) {
			mk := func(t *testing.T, u string, reg prometheus.Registerer, retry RetryOptions) dispatch.Notifier {
				n, err := NewFeishu(FeishuOptions{URL: u, Secret: secret, MsgType: msgType, RetryOptions: retry}, testDeps(reg))
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			check := func(t *testing.T, r recorded) {
				t.Helper()
				var body struct {
					MsgType   string `json:"msg_type"`
					Timestamp string `json:"timestamp"`
					Sign      string `json:"sign"`
					Content   struct {
						Text string `json:"text"`
					} `json:"content"`
					Card struct {
						Header struct {
							Title struct {
								Content string `json:"content"`
							} `json:"title"`
							Template string `json:"template"`
						} `json:"header"`
						Elements []struct {
							Text struct {
								Tag     string `json:"tag"`
								Content string `json:"content"`
							} `json:"text"`
						} `json:"elements"`
					} `json:"card"`
				}
				if err := json.Unmarshal(r.Body, &body); err != nil {
					t.Fatal(err)
				}
				// Feishu: timestamp in seconds; sign = base64(HmacSHA256(
				// key=timestamp+"\n"+secret, message="")).
				if body.Timestamp != strconv.FormatInt(testNow.Unix(), 10) {
					t.Errorf("timestamp %q, want %d", body.Timestamp, testNow.Unix())
				}
				mac := hmac.New(sha256.New, []byte(body.Timestamp+"\n"+secret))
				if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); body.Sign != want {
					t.Errorf("sign %q, want %q", body.Sign, want)
				}
				if body.MsgType != msgType {
					t.Errorf("msg_type %q, want %q", body.MsgType, msgType)
				}
				switch msgType {
				case FeishuText:
					if !strings.HasPrefix(body.Content.Text, wantTitleZH+"\n") {
						t.Errorf("text %q", body.Content.Text)
					}
				case FeishuInteractive:
					if body.Card.Header.Title.Content != wantTitleZH || body.Card.Header.Template != "orange" ||
						len(body.Card.Elements) != 1 || body.Card.Elements[0].Text.Tag != "lark_md" {
						t.Errorf("card %s", r.Body)
					}
				}
			}
			cases := robotCases(9499, 19021)
			// Feishu's current answer uses code/msg and the old one
			// StatusCode; rate limits can also come as HTTP 400.
			cases = append(cases,
				robotCase{"code field", []answer{{status: 200, body: `{"code":11232,"msg":"rate"}`}, {status: 200, body: `{"code":0,"msg":"success","data":{}}`}}, 2, false},
				robotCase{"StatusCode field", []answer{{status: 200, body: `{"StatusCode":0,"StatusMessage":"success"}`}}, 1, false},
				robotCase{"rate limit as 400", []answer{{status: 400, body: `{"code":9499,"msg":"too many request"}`}, {status: 200, body: `{"code":0}`}}, 2, false},
				robotCase{"sign error as 400", []answer{{status: 400, body: `{"code":19021,"msg":"sign match fail"}`}, {status: 200, body: `{"code":0}`}}, 1, true},
			)
			runRobotCases(t, cases, mk, check)
		})
	}
}

func TestRobotOptionsRejected(t *testing.T) {
	deps := testDeps(nil)
	for name, err := range map[string]error{
		"dingtalk no url":   second(NewDingTalk(DingTalkOptions{}, deps)),
		"dingtalk language": second(NewDingTalk(DingTalkOptions{URL: "https://x/", Language: "fr"}, deps)),
		"wecom ftp":         second(NewWeCom(WeComOptions{URL: "ftp://x/"}, deps)),
		"feishu msg_type":   second(NewFeishu(FeishuOptions{URL: "https://x/", MsgType: "post"}, deps)),
		"webhook ftp":       second(NewWebhook(WebhookOptions{URL: "ftp://x/"}, deps)),
		"signed no secret":  second(Build(Channels{SignedWebhooks: []WebhookOptions{{URL: "https://x/"}}}, BuildDeps{Deps: deps})),
		"alertmanager url":  second(NewAlertmanager(AlertmanagerOptions{URL: "127.0.0.1:9093"}, deps)),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func second[T any](_ T, err error) error { return err }
