// Package configcheck checks a configuration the way riskmon would run
// it, without connecting anything: the file, its registry, its rule
// files, its notification channels and the alerting engine they build.
// Every problem comes back as a yamlpos.Problem with its file, line and
// key, all in one pass, for check-config to print.
package configcheck
