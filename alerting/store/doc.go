// Package store is the alert path's one durable file (bbolt): the open
// alerts and their hand-off marks (lifecycle.RecordStore), the shelves
// and flapping state (Bucket, a lifecycle.KV), and the notification
// outbox with the keys already sent (dispatch.Outbox). Damaged entries
// are set aside, not fatal (Quarantined).
package store
