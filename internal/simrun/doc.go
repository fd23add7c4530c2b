// Package simrun holds what the 'riskmon sim' commands do: publish a
// fleet, play a scenario and write its ground truth, pace a steady load,
// score riskmon's alerts against a truth, and score the default rules on
// the synthetic incident library in process. The commands only parse
// flags into these options and call in.
package simrun
