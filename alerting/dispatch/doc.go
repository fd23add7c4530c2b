// Package dispatch delivers alert events to notifiers. A Dispatcher is an
// alerting.Sink: it gives every Notifier its own bounded queue and
// goroutine, so a slow or failing one never delays the others, and with an
// Outbox (store.Store) it commits each event to disk before Emit
// returns, so a restart resends what was waiting and a change emitted
// twice is notified once. The notifiers themselves are in alerting/notify.
package dispatch
