# iotmqtt — common tasks. Everything installs through the Go toolchain (and npm, for the
# JavaScript interop test in interop/js).

GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
PKGS        ?= ./...
ARGS        ?=

.PHONY: all test lint fmt vet run shadow broker js-deps bench test-realtime test-mosquitto tidy

all: lint test

## test: vet, then every test with the race detector (offline, no AWS account).
## GORACE=atexit_sleep_ms=0: the race detector otherwise sleeps 1 s as each
## test binary exits, for goroutines still running to report; goleak already
## fails any package that leaves one.
test: vet js-deps
	GORACE=atexit_sleep_ms=0 $(GO) test -race -count=1 -timeout 15m $(PKGS)

## lint: gofmt, go vet and staticcheck.
lint: fmt vet
	$(GO) run $(STATICCHECK) $(PKGS)

fmt:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needs to run on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

## test-realtime: the seed's exact settings (1 s/32 s/20 s back-off, 2 Hz) on the wire; ~40 s.
test-realtime:
	$(GO) test -race -count=1 -run Realtime -v ./integration -realtime

## test-mosquitto: the integration suite against a local mosquitto (the -endpoint flags' worked example).
test-mosquitto:
	./scripts/mosquitto-suite.sh

## run: the basicPubSub sample on the embedded broker, with the fault demo, 20 messages
## (other flags: make run ARGS="--count 0" runs until Ctrl-C; ARGS="-e HOST -r CA -c CERT -k KEY").
RUN_ARGS = $(if $(ARGS),$(ARGS),--faults --count 20)
run:
	$(GO) run ./cmd/basicpubsub $(RUN_ARGS)

## shadow: the basicShadow samples (updater and delta listener) on the embedded broker's Device
## Shadow service, 10 updates (ARGS="-m listener" runs the listener alone until Ctrl-C;
## ARGS="-e HOST -r CA -c CERT -k KEY -n THING" talks to AWS IoT Core).
SHADOW_ARGS = $(if $(ARGS),$(ARGS),--count 10)
shadow:
	$(GO) run ./cmd/basicshadow $(SHADOW_ARGS)

## broker: iotbroker, the harness as a local AWS IoT endpoint for any SDK: mutual TLS on
## 127.0.0.1:8883, the device kit in ./iotbroker-kit, the control API and live page on
## http://127.0.0.1:9883 (other flags: make broker ARGS="--alpn 127.0.0.1:443 --tcp 127.0.0.1:1883").
broker:
	$(GO) run ./cmd/iotbroker $(ARGS)

## js-deps: AWS's JavaScript device SDK for the interop test (interop/js), when node is
## there and the lock file changed since the last install.
js-deps:
	@if command -v npm >/dev/null && [ ! interop/js/node_modules/.package-lock.json -nt interop/js/package-lock.json ]; then \
		cd interop/js && npm ci --no-audit --no-fund --loglevel=error >/dev/null; fi

## bench: Go benchmarks, then the report (one table, also written to bench/RESULTS.md);
## fails if a target is missed. Against another broker: make bench REPORT_ARGS="-endpoint H -rootCA F -cert F -key F".
REPORT_ARGS ?=
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 $(PKGS)
	$(GO) run ./cmd/benchreport -out bench/RESULTS.md $(REPORT_ARGS)

tidy:
	$(GO) mod tidy
