// Package notify holds every notification channel: the log, MQTT, the
// webhook (HMAC-signed when it has a secret), Alertmanager, the DingTalk,
// WeCom and Feishu chat robots, and a Router that picks notifiers per
// event. Build makes the channels a configuration lists.
//
// Every channel implements dispatch.Notifier. The HTTP ones share one
// delivery core:
// each attempt is classified as retryable (connection errors, timeouts,
// 5xx, 408, 429 and the vendors' rate-limit codes) or not (any other 4xx
// or vendor error code, which says the request itself is wrong), retries
// back off exponentially and honour Retry-After, and a notification that
// never got through is appended to the channel's dead-letter file so an
// operator can see, and if need be replay, what was lost.
//
// Webhooks and MQTT carry the same JSON, EventBody.
//
// Constructors take a plain options struct with yaml tags, decoded from
// the configuration file, and a Deps with what cannot come from YAML:
// the HTTP client, the Prometheus registerer and the logger.
package notify
