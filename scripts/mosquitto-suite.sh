#!/usr/bin/env bash
# Runs the integration suite against a real broker: a local mosquitto with
# mutual TLS on 127.0.0.1, certificates from cmd/iotcerts. It is the worked
# example of the suite's -endpoint flags (see README), and CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-18883}
command -v mosquitto >/dev/null || { echo "mosquitto is not installed (apt-get install mosquitto)" >&2; exit 1; }

work=$(mktemp -d)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go run ./cmd/iotcerts -dir "$work/pki" -thing basicPubSub -hosts localhost,127.0.0.1
cat >"$work/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
cafile $work/pki/root-CA.crt
certfile $work/pki/server.cert.pem
keyfile $work/pki/server.private.key
require_certificate true
allow_anonymous true
user $(id -un)
log_dest stderr
log_type error
CONF
mosquitto -c "$work/mosquitto.conf" &
pid=$!

for _ in $(seq 1 100); do # up to 10 s for mosquitto to listen
	if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
	sleep 0.1
done

go test -race -count=1 -v ./integration \
	-endpoint localhost -port "$PORT" \
	-rootCA "$work/pki/root-CA.crt" \
	-cert "$work/pki/basicPubSub.cert.pem" \
	-key "$work/pki/basicPubSub.private.key" \
	-clientId basicPubSub "$@"
