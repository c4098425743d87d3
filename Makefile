# iotmqtt — common tasks. Everything installs through the Go toolchain.

GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
PKGS        ?= ./...
ARGS        ?=

.PHONY: all test lint fmt vet run shadow bench test-realtime test-mosquitto tidy

all: lint test

## test: vet, then every test with the race detector (offline, no AWS account).
## GORACE=atexit_sleep_ms=0: the race detector otherwise sleeps 1 s as each
## test binary exits, for goroutines still running to report; goleak already
## fails any package that leaves one.
test: vet
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

## bench: Go benchmarks, then the report (one table, also written to bench/RESULTS.md);
## fails if a target is missed. Against another broker: make bench REPORT_ARGS="-endpoint H -rootCA F -cert F -key F".
REPORT_ARGS ?=
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 $(PKGS)
	$(GO) run ./cmd/benchreport -out bench/RESULTS.md $(REPORT_ARGS)

tidy:
	$(GO) mod tidy
