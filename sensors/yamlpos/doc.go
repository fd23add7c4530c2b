// Package yamlpos finds where things are written in a YAML file and
// carries what is wrong there as a structured Problem: the key path
// ("alerting.notify.webhooks[0].url"), the file, the line and column, and
// the message. Every loader of riskmon's YAML files (configuration,
// registry, rule files, simulator fleets and scenarios) reports through
// it, so check-config prints one kind of problem whatever file it came
// from.
//
// It lives under sensors because the registry loaders need it and
// sensors depends on nothing else of riskmon's; it depends only on the
// YAML library.
package yamlpos
