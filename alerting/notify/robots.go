package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/riskmon/riskmon/alerting"
)

// Robot error codes that mean "too many messages, try later"; every other
// non-zero code is a request the robot will keep refusing.
const (
	dingTalkRateLimited = 130101 // "send too fast, exceed 20 times per minute"
	weComRateLimited    = 45009  // "api freq out of limit"
	// Feishu's custom bot answers 9499 "too many request"; the message
	// service's limits are 11232 (per app) and 230020 (per chat).
	feishuRateLimited     = 9499
	feishuTenantLimited   = 11232
	feishuChatRateLimited = 230020
)

// robotAnswer decodes the JSON body the robots answer with. DingTalk and
// WeCom use errcode/errmsg, Feishu code/msg, and older Feishu deployments
// StatusCode/StatusMessage.
type robotAnswer struct {
	ErrCode       *int64 `json:"errcode"`
	ErrMsg        string `json:"errmsg"`
	Code          *int64 `json:"code"`
	Msg           string `json:"msg"`
	StatusCode    *int64 `json:"StatusCode"`
	StatusMessage string `json:"StatusMessage"`
}

// parseAnswer returns the code and message of a robot's answer. A body
// without a code is an error: the URL probably points at something that
// is not the robot, and a silent success would lose alerts.
func parseAnswer(body []byte) (int64, string, error) {
	var a robotAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return 0, "", backoff.Permanent(fmt.Errorf("robot answer is not JSON: %.200q", body))
	}
	switch {
	case a.ErrCode != nil:
		return *a.ErrCode, a.ErrMsg, nil
	case a.Code != nil:
		return *a.Code, a.Msg, nil
	case a.StatusCode != nil:
		return *a.StatusCode, a.StatusMessage, nil
	}
	return 0, "", backoff.Permanent(fmt.Errorf("robot answer has no error code: %.200q", body))
}

func checkRobotURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: url: %w", what, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: url %q: want http:// or https:// with a host", what, u.Redacted())
	}
	return nil
}

// hmacBase64 is base64(HMAC-SHA256(key, msg)), the signature both DingTalk
// and Feishu use, with different keys and messages.
func hmacBase64(key, msg []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// DingTalkOptions configure a DingTalk custom robot (自定义机器人).
type DingTalkOptions struct {
	// Name labels metrics, logs and dead letters; default "dingtalk".
	Name string `yaml:"name"`
	// URL is the robot's webhook, with its access_token:
	// https://oapi.dingtalk.com/robot/send?access_token=….
	URL string `yaml:"url"`
	// Secret is the robot's signing secret (加签, "SEC…"); empty when the
	// robot uses keywords or an IP allow-list instead.
	Secret string `yaml:"secret"`
	// Language is "zh" (default) or "en".
	Language     string `yaml:"language"`
	RetryOptions `yaml:",inline"`
}

// DingTalk posts events as Markdown messages to a DingTalk custom robot.
type DingTalk struct {
	opts DingTalkOptions
	d    *deliverer
}

// NewDingTalk checks opts and builds the notifier.
func NewDingTalk(opts DingTalkOptions, deps Deps) (*DingTalk, error) {
	if opts.Name == "" {
		opts.Name = "dingtalk"
	}
	if err := checkRobotURL(fmt.Sprintf("dingtalk notifier %q", opts.Name), opts.URL); err != nil {
		return nil, err
	}
	lang, err := checkLanguage(opts.Language)
	if err != nil {
		return nil, fmt.Errorf("dingtalk %s: %w", opts.Name, err)
	}
	opts.Language = lang
	d, err := newDeliverer(opts.Name, opts.RetryOptions, deps)
	if err != nil {
		return nil, err
	}
	return &DingTalk{opts: opts, d: d}, nil
}

// Name is DingTalkOptions.Name.
func (n *DingTalk) Name() string { return n.opts.Name }

// Notify sends ev, retrying as the package documentation says; errcode
// 130101 (rate limit) is retried, any other non-zero errcode is not.
func (n *DingTalk) Notify(ctx context.Context, ev alerting.Event) error {
	msg := n.d.render(ev, n.opts.Language)
	body, err := json.Marshal(map[string]any{
		"msgtype":  "markdown",
		"markdown": map[string]string{"title": msg.Title, "text": msg.Markdown},
	})
	if err != nil {
		return err
	}
	return n.d.deliver(ctx, ev, func(ctx context.Context) error {
		// Sign per attempt: DingTalk rejects timestamps older than an hour,
		// and a retry may come long after the first try.
		u, err := dingTalkSignedURL(n.opts.URL, n.opts.Secret, n.d.deps.Now())
		if err != nil {
			return backoff.Permanent(err)
		}
		answer, err := n.d.post(ctx, u, nil, body)
		if err != nil {
			return err
		}
		code, text, err := parseAnswer(answer)
		if err != nil {
			return err
		}
		return apiResult(code, text, dingTalkRateLimited)
	})
}

// dingTalkSignedURL appends timestamp and sign as DingTalk documents them:
// timestamp in milliseconds, sign = urlencode(base64(HMAC-SHA256(secret,
// timestamp + "\n" + secret))). Without a secret the URL is unchanged.
func dingTalkSignedURL(raw, secret string, now time.Time) (string, error) {
	if secret == "" {
		return raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	q := u.Query()
	q.Set("timestamp", ts)
	q.Set("sign", hmacBase64([]byte(secret), []byte(ts+"\n"+secret)))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// WeComOptions configure a WeCom (企业微信) group robot.
type WeComOptions struct {
	// Name labels metrics, logs and dead letters; default "wecom".
	Name string `yaml:"name"`
	// URL is the robot's webhook with its key:
	// https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…. The key is
	// the only credential; WeCom robots have no signing.
	URL string `yaml:"url"`
	// Language is "zh" (default) or "en".
	Language     string `yaml:"language"`
	RetryOptions `yaml:",inline"`
}

// WeCom posts events as Markdown messages to a WeCom group robot.
type WeCom struct {
	opts WeComOptions
	d    *deliverer
}

// NewWeCom checks opts and builds the notifier.
func NewWeCom(opts WeComOptions, deps Deps) (*WeCom, error) {
	if opts.Name == "" {
		opts.Name = "wecom"
	}
	if err := checkRobotURL(fmt.Sprintf("wecom notifier %q", opts.Name), opts.URL); err != nil {
		return nil, err
	}
	lang, err := checkLanguage(opts.Language)
	if err != nil {
		return nil, fmt.Errorf("wecom %s: %w", opts.Name, err)
	}
	opts.Language = lang
	d, err := newDeliverer(opts.Name, opts.RetryOptions, deps)
	if err != nil {
		return nil, err
	}
	return &WeCom{opts: opts, d: d}, nil
}

// Name is WeComOptions.Name.
func (n *WeCom) Name() string { return n.opts.Name }

// Notify sends ev, retrying as the package documentation says; errcode
// 45009 (rate limit) is retried, any other non-zero errcode is not.
func (n *WeCom) Notify(ctx context.Context, ev alerting.Event) error {
	msg := n.d.render(ev, n.opts.Language)
	body, err := json.Marshal(map[string]any{
		"msgtype":  "markdown",
		"markdown": map[string]string{"content": msg.Markdown},
	})
	if err != nil {
		return err
	}
	return n.d.deliver(ctx, ev, func(ctx context.Context) error {
		answer, err := n.d.post(ctx, n.opts.URL, nil, body)
		if err != nil {
			return err
		}
		code, text, err := parseAnswer(answer)
		if err != nil {
			return err
		}
		return apiResult(code, text, weComRateLimited)
	})
}

// Feishu message types.
const (
	FeishuText        = "text"
	FeishuInteractive = "interactive"
)

// FeishuOptions configure a Feishu (飞书, Lark) custom bot.
type FeishuOptions struct {
	// Name labels metrics, logs and dead letters; default "feishu".
	Name string `yaml:"name"`
	// URL is the bot's webhook:
	// https://open.feishu.cn/open-apis/bot/v2/hook/….
	URL string `yaml:"url"`
	// Secret is the bot's signing secret (签名校验); empty when unsigned.
	Secret string `yaml:"secret"`
	// MsgType is "text" (default) or "interactive", a card coloured by
	// level.
	MsgType string `yaml:"msg_type"`
	// Language is "zh" (default) or "en".
	Language     string `yaml:"language"`
	RetryOptions `yaml:",inline"`
}

// Feishu posts events as text or card messages to a Feishu custom bot.
type Feishu struct {
	opts FeishuOptions
	d    *deliverer
}

// NewFeishu checks opts and builds the notifier.
func NewFeishu(opts FeishuOptions, deps Deps) (*Feishu, error) {
	if opts.Name == "" {
		opts.Name = "feishu"
	}
	if err := checkRobotURL(fmt.Sprintf("feishu notifier %q", opts.Name), opts.URL); err != nil {
		return nil, err
	}
	switch opts.MsgType {
	case "":
		opts.MsgType = FeishuText
	case FeishuText, FeishuInteractive:
	default:
		return nil, fmt.Errorf("feishu %s: msg_type %q: want text or interactive", opts.Name, opts.MsgType)
	}
	lang, err := checkLanguage(opts.Language)
	if err != nil {
		return nil, fmt.Errorf("feishu %s: %w", opts.Name, err)
	}
	opts.Language = lang
	d, err := newDeliverer(opts.Name, opts.RetryOptions, deps)
	if err != nil {
		return nil, err
	}
	return &Feishu{opts: opts, d: d}, nil
}

// Name is FeishuOptions.Name.
func (n *Feishu) Name() string { return n.opts.Name }

// Notify sends ev, retrying as the package documentation says; the rate
// limit codes 9499, 11232 and 230020 are retried, any other non-zero code
// is not.
func (n *Feishu) Notify(ctx context.Context, ev alerting.Event) error {
	msg := n.d.render(ev, n.opts.Language)
	return n.d.deliver(ctx, ev, func(ctx context.Context) error {
		// Signed per attempt, like DingTalk: the timestamp must be recent.
		body, err := json.Marshal(n.payload(ev, msg, n.d.deps.Now()))
		if err != nil {
			return backoff.Permanent(err)
		}
		answer, err := n.d.post(ctx, n.opts.URL, nil, body)
		if err != nil {
			// Feishu reports some refusals, rate limits included, as HTTP
			// 400 with the code in the body; read it when there is one.
			var he *HTTPError
			if errors.As(err, &he) {
				if code, text, perr := parseAnswer([]byte(he.Body)); perr == nil && code != 0 {
					return apiResult(code, text, feishuRateLimited, feishuTenantLimited, feishuChatRateLimited)
				}
			}
			return err
		}
		code, text, err := parseAnswer(answer)
		if err != nil {
			return err
		}
		return apiResult(code, text, feishuRateLimited, feishuTenantLimited, feishuChatRateLimited)
	})
}

func (n *Feishu) payload(ev alerting.Event, msg message, now time.Time) map[string]any {
	p := map[string]any{"msg_type": n.opts.MsgType}
	if n.opts.MsgType == FeishuInteractive {
		p["card"] = map[string]any{
			"config": map[string]any{"wide_screen_mode": true},
			"header": map[string]any{
				"title":    map[string]string{"tag": "plain_text", "content": msg.Title},
				"template": feishuTemplate(ev),
			},
			"elements": []any{map[string]any{
				"tag":  "div",
				"text": map[string]string{"tag": "lark_md", "content": msg.Markdown},
			}},
		}
	} else {
		p["content"] = map[string]string{"text": msg.Text}
	}
	if n.opts.Secret != "" {
		ts := strconv.FormatInt(now.Unix(), 10)
		p["timestamp"] = ts
		p["sign"] = feishuSign(ts, n.opts.Secret)
	}
	return p
}

// feishuSign is Feishu's signature: the string timestamp + "\n" + secret
// is the HMAC-SHA256 key, the message is empty, the result base64.
func feishuSign(ts, secret string) string {
	return hmacBase64([]byte(ts+"\n"+secret), nil)
}

// feishuTemplate colours a card by level; green says resolved.
func feishuTemplate(ev alerting.Event) string {
	if ev.Type == alerting.EventResolved {
		return "green"
	}
	return ev.Level.Color()
}
