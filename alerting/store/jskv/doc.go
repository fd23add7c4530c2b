// Package jskv keeps the alert path's state in a replicated NATS
// JetStream key-value bucket, for cluster mode: the open alerts with
// their acknowledgements and hand-off marks, the shelves, the flapping
// state and the keys of the notifications already claimed. What a site's
// owner keeps there survives the loss of that instance and its disk, and
// the instance that takes the site over reads it back before it
// evaluates the site's first message. Single-node riskmon keeps the same
// state in its bbolt file (alerting/store) instead.
package jskv
