# riskmon: `make run` starts the service with an embedded broker, a local
# InfluxDB and a simulated fleet; `make test` runs every test on real
# servers. Both install what they need first.

SHELL := /bin/bash
GO ?= go
STATE := $(CURDIR)/.state
BIN := $(CURDIR)/bin
INFLUXD := $(STATE)/bin/influxd
INFLUXD_VERSION := v1.8.10
ALERTMANAGER := $(STATE)/bin/alertmanager
# Newer releases embed UI files their Go module lacks, so go install fails.
ALERTMANAGER_VERSION := v0.28.1
# The cluster mode's broker and JetStream: gateways speak MQTT to its
# listener (docs/cluster.md).
NATS_SERVER := $(STATE)/bin/nats-server
NATS_SERVER_VERSION := v2.15.3
# Fuzz budgets are counts of executions, not durations: with a duration,
# Go 1.26's fuzz coordinator can report its own deadline as a failure
# ("context deadline exceeded", no failing input) when a worker is busy as
# time runs out. A count has no deadline to race and still explores.
FUZZTIME ?= 200000x
# The collector make bench compares riskmon with, built with only the
# plugins the comparison uses.
TELEGRAF ?= $(STATE)/bin/telegraf
TELEGRAF_VERSION := v1.37.2
TELEGRAF_TAGS := custom,inputs.mqtt_consumer,outputs.influxdb_v2,parsers.json_v2

export RISKMON_INFLUXD := $(INFLUXD)
export RISKMON_ALERTMANAGER := $(ALERTMANAGER)
export RISKMON_NATS_SERVER := $(NATS_SERVER)

.PHONY: all run test bench lint build deps deps-run fuzz clean telegraf pgo

all: build

## deps-run: what `make run` needs: Go modules and InfluxDB OSS 1.8.10 in
## .state/bin (the demo's MQTT broker is embedded)
deps-run: $(INFLUXD)
	$(GO) mod download

## deps: what `make test` adds: Alertmanager and nats-server into
## .state/bin, Mosquitto and Chromium from Debian (as root)
deps: deps-run $(ALERTMANAGER) $(NATS_SERVER)
	@scripts/install-debian-packages.sh

$(INFLUXD):
	@mkdir -p $(STATE)/bin
	@echo "installing InfluxDB OSS $(INFLUXD_VERSION) into $(STATE)/bin (about a minute)"
	GOBIN=$(STATE)/bin $(GO) install github.com/influxdata/influxdb/cmd/influxd@$(INFLUXD_VERSION)

$(ALERTMANAGER):
	@mkdir -p $(STATE)/bin
	@echo "installing Alertmanager $(ALERTMANAGER_VERSION) into $(STATE)/bin (for the notifier tests)"
	GOBIN=$(STATE)/bin $(GO) install github.com/prometheus/alertmanager/cmd/alertmanager@$(ALERTMANAGER_VERSION)

$(NATS_SERVER):
	@mkdir -p $(STATE)/bin
	@echo "installing nats-server $(NATS_SERVER_VERSION) into $(STATE)/bin (for the cluster tests, about 30 s)"
	GOBIN=$(STATE)/bin $(GO) install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION)

## build: the riskmon binary in bin/
build:
	$(GO) build -o $(BIN)/riskmon ./cmd/riskmon

## run: the service on embedded defaults plus a simulated fleet; Ctrl-C stops it
run: deps-run build
	$(BIN)/riskmon demo --state-dir $(STATE)

STATICCHECK_VERSION := v0.8.2

## lint: gofmt check, go vet, staticcheck and the package graph's rules
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.state/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	@scripts/check-imports.sh

## test: lint, every test (unit and integration on real servers), the
## shared-state packages under -race, fuzz smoke runs
test: deps lint
	@# The browser tests' screenshots are kept in .state/artifacts (each
	@# width of the board): look at them after a change to the console.
	@# Without cmd/riskmon/default.pgo: it changes only what the compiler
	@# inlines, and with it cmd/riskmon's tests would compile every
	@# package again.
	@# internal/faults is named first so that go test builds and starts it
	@# first: it takes about 10 minutes, mostly waiting on servers it kills
	@# and restarts, and the other packages together about as long, so
	@# they run beside it instead of before it.
	RISKMON_ARTIFACTS=$${RISKMON_ARTIFACTS:-$(STATE)/artifacts} $(GO) test -pgo=off -count=1 -timeout 15m ./internal/faults ./...
	@# The packages whose state many goroutines share, again under the race detector.
	$(GO) test -race -count=1 -timeout 5m ./alerting/... ./cluster ./console ./ingest/... ./protocol/...
	$(MAKE) --no-print-directory fuzz FUZZTIME=20000x

## fuzz: run each fuzz target for FUZZTIME executions (e.g. FUZZTIME=1000000x)
fuzz:
	$(GO) test ./ingest -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./ingest -run '^$$' -fuzz '^FuzzSeqTracker$$' -fuzztime $(FUZZTIME)
	$(GO) test ./ingest -run '^$$' -fuzz '^FuzzSplitBySeries$$' -fuzztime $(FUZZTIME)
	$(GO) test ./ingest -run '^$$' -fuzz '^FuzzSpoolSegment$$' -fuzztime $(FUZZTIME)
	$(GO) test ./protocol -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./protocol/lineproto -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./protocol/sparkplug -run '^$$' -fuzz '^FuzzHandle$$' -fuzztime $(FUZZTIME)
	$(GO) test ./protocol/sparkplug -run '^$$' -fuzz '^FuzzParseHostState$$' -fuzztime $(FUZZTIME)
	$(GO) test ./protocol/sparkplug -run '^$$' -fuzz '^FuzzApply$$' -fuzztime $(FUZZTIME)
	$(GO) test ./sensors -run '^$$' -fuzz '^FuzzLoadYAML$$' -fuzztime $(FUZZTIME)
	$(GO) test ./journal -run '^$$' -fuzz '^FuzzSegment$$' -fuzztime $(FUZZTIME)
	$(GO) test ./sensors -run '^$$' -fuzz '^FuzzLoadCSV$$' -fuzztime $(FUZZTIME)
	$(GO) test ./sensors -run '^$$' -fuzz '^FuzzWriteYAML$$' -fuzztime $(FUZZTIME)
	$(GO) test ./alerting/rulefile -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME)
	$(GO) test ./alerting -run '^$$' -fuzz '^FuzzLoadRuleTests$$' -fuzztime $(FUZZTIME)
	$(GO) test ./alerting -run '^$$' -fuzz '^FuzzParseSeries$$' -fuzztime $(FUZZTIME)
	$(GO) test ./alerting -run '^$$' -fuzz '^FuzzRestoreSnapshot$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/replay -run '^$$' -fuzz '^FuzzCSV$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/config -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./simulator -run '^$$' -fuzz '^FuzzParseScenario$$' -fuzztime $(FUZZTIME)
	$(GO) test ./simulator -run '^$$' -fuzz '^FuzzParseFleet$$' -fuzztime $(FUZZTIME)
	$(GO) test ./simulator -run '^$$' -fuzz '^FuzzReadTruth$$' -fuzztime $(FUZZTIME)
	$(GO) test ./simulator -run '^$$' -fuzz '^FuzzReadAlertEvents$$' -fuzztime $(FUZZTIME)

## pgo: refresh cmd/riskmon/default.pgo, the CPU profile go build
## optimises riskmon with (inlining and devirtualising its hot calls),
## from the saturating, fixed-rate and low-rate runs of the comparison
## with Telegraf (a few minutes; docs/benchmarks.md)
pgo: deps build $(TELEGRAF)
	rm -rf $(STATE)/pgo
	$(BIN)/riskmon bench compare --pairs 1 --rate 100000 --outage 0 --idle 20s \
		--profile $(STATE)/pgo --profile-for 10s --state-dir $(STATE)/bench-compare
	$(GO) tool pprof -proto $(STATE)/pgo/*-cpu.pprof > cmd/riskmon/default.pgo

## telegraf: Telegraf $(TELEGRAF_VERSION), custom build, into .state/bin (a few minutes)
telegraf: $(TELEGRAF)

$(TELEGRAF):
	@mkdir -p $(dir $(TELEGRAF))
	GOBIN=$(dir $(TELEGRAF)) $(GO) install -tags "$(TELEGRAF_TAGS)" github.com/influxdata/telegraf/cmd/telegraf@$(TELEGRAF_VERSION)

## bench: Go micro-benchmarks, riskmon beside Telegraf on the same load
## (one table with ratios), then riskmon's own load runs: saturating,
## moderate (alert latency below saturation) and spool replay. Telegraf
## compiles in the background while the micro-benchmarks run.
bench: deps build
	@set -e; mkdir -p $(dir $(TELEGRAF)); tg=; \
	if [ ! -x $(TELEGRAF) ]; then \
		echo "building Telegraf $(TELEGRAF_VERSION) in the background"; \
		( GOBIN=$(dir $(TELEGRAF)) $(GO) install -tags "$(TELEGRAF_TAGS)" github.com/influxdata/telegraf/cmd/telegraf@$(TELEGRAF_VERSION) \
			>$(STATE)/telegraf-build.log 2>&1 ) & tg=$$!; \
	fi; \
	$(GO) test -run '^$$' -bench . -benchmem ./...; \
	if [ -n "$$tg" ]; then wait $$tg || { cat $(STATE)/telegraf-build.log; exit 1; }; fi; \
	echo "== riskmon and Telegraf, alternately, on the same load"; \
	$(BIN)/riskmon bench compare --telegraf $(TELEGRAF) --state-dir $(STATE)/bench-compare
	@echo "== saturating load"
	$(BIN)/riskmon bench --state-dir $(STATE)/bench
	@echo "== moderate load (latency below saturation)"
	$(BIN)/riskmon bench --state-dir $(STATE)/bench --readings 300000 --gateways 2 --max-in-flight 4
	@echo "== InfluxDB down during the load, then the spool replays"
	$(BIN)/riskmon bench --state-dir $(STATE)/bench --readings 1000000 --replay

clean:
	rm -rf $(BIN) $(STATE)/bench $(STATE)/bench-compare $(STATE)/demo
