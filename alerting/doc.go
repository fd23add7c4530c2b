// Package alerting turns sensor readings into alerts and delivers them.
//
// # Threshold rules and the alert lifecycle
//
// A ThresholdRule compares each reading of one sensor with an ordered set
// of setpoints, all on the same side (sensors.Above or sensors.Below). The
// Engine keeps one small state per (rule, sensor) and advances it with a
// single pure step function, always on device time (the reading's Time),
// never on the wall clock, so a replayed backlog gives the same alerts as
// the live stream did:
//
//	inactive => pending   the value trips a setpoint and the rule has For > 0
//	pending  => inactive  the value drops back below the setpoint before For
//	                      has passed: no alert, nothing is notified
//	pending  => firing    the value kept tripping for For (device time from
//	                      the first tripping reading); with For == 0 a
//	                      tripping reading fires at once          (fired)
//	firing   => firing    a more severe setpoint kept tripping for For
//	                                                              (escalated)
//	firing   => firing    the value is back past the current level's restore
//	                      value but not past a lower level's      (deescalated)
//	firing   => inactive  the value is back past every restore value
//	                                                              (resolved)
//
// Between a setpoint and its restore value (Clear) a raised alert keeps its
// level: that band is the hysteresis that stops an alert flapping on noise.
// The on-delay follows ISA-18.2: while an alert waits out For, a value back
// below the setpoint restarts the wait; the band only holds alerts already
// raised. An alert keeps one id, derived from rule, site, sensor and the
// device time the condition began (StartsAt), through every escalation and
// de-escalation until it resolves; there is never more than one open alert
// per rule and sensor.
//
// Readings of bad quality are not evaluated (they are a sensor-health
// matter); readings older than the last one evaluated for their sensor are
// ignored and counted, so a late replay cannot move an alert backwards.
//
// A threshold rule may also require M of the last N readings to trip a
// level before it counts (Options.MOfN), so a lone spike decides nothing.
//
// # Early-warning and sensor-health rules
//
// Each sensor also gets a RulePack (DefaultPack per kind, overridable
// through Options): rate of change ("<kind>_rate"), least-squares trend
// ("<kind>_trend"), time-to-threshold forecast ("<kind>_forecast"), and
// the sensor-health rules sensor_stuck, sensor_jump and sensor_stale.
// They share the threshold rules' events and the one-alert-per-rule-and-
// sensor lifecycle, with a single level each (fired, then resolved). Their
// state is fixed in size: a few words per rule plus, for the windowed
// rules, one ring of the sensor's newest 32 samples, so evaluation does
// not allocate unless an alert changes. All run on device time except
// sensor_stale, which Engine.Tick checks against the wall clock and the
// readings' receive times, and which Options.Inhibit can hold back for
// sensors behind a gateway known to be offline. docs/alerting.md gives
// every default and its reason.
//
// # Levels
//
// Levels are the Chinese four-colour early-warning scale of
// sensors.Level: 1 red (critical), 2 orange (major), 3 yellow (minor),
// 4 blue (warning). The default catalog maps an instrument's first alarm
// setpoint (报警 L1) to orange and its second (L2) to red, leaving yellow
// and blue to early warnings (预警) from trend and forecast rules. Events
// carry the level as its number and, in JSON, its color and severity names;
// MQTT topics use the level's String form, e.g. "2-orange".
//
// # Delivery
//
// The Engine hands each Event to a Sink. The Dispatcher of package
// alerting/dispatch is the Sink that delivers to the notifiers of package
// alerting/notify (log, MQTT, webhook, ...): one bounded queue and one
// goroutine per notifier, so a slow webhook never delays the others; when a
// queue is full its oldest event is dropped and counted. The Store of
// package alerting/store is its durable outbox. Flapping, shelving, the
// operator lifecycle and alarm-system health are Sinks of package
// alerting/lifecycle, put between the Engine and the Dispatcher.
//
// # Exposure, groups, composite rules and alarm-system health
//
// Toxic gas kinds also get exposure rules, "<kind>_twa" (8-hour
// time-weighted average against the PC-TWA) and "<kind>_stel" (15-minute
// average against the PC-STEL or MAC), kept in fixed rings of buckets
// (Options.Exposure, DefaultExposureLimits). Options.Groups checks
// co-located or redundant sensors against each other (sensor_disagreement,
// and group_vote for M-of-N voting); Options.Composite takes rules written
// as expr expressions over the latest values of a site's sensors. Both
// have their own lock, taken after the shard's. lifecycle.Health
// measures the alarm system against the ISA-18.2 benchmarks (rate,
// floods, standing, chattering, bad actors). docs/alerting.md has the
// details and the reasons for every default.
package alerting
