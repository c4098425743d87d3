// A device on AWS's JavaScript device SDK v1 (aws-iot-device-sdk), driven
// by cmd/iotbroker's tests: it connects over mutual TLS with the SDK's
// defaults, subscribes to a topic, and reports what happens as one JSON
// object per line on stdout. Commands come as JSON lines on stdin:
//   {"publish": N, "from": K}  publish {"seq": K} … {"seq": K+N-1} at QoS 1
//                              (queued by the SDK while it is offline)
//   {"end": true}              disconnect and exit
//
// usage: node device.js HOST PORT ROOT_CA CERT KEY CLIENT_ID TOPIC [OPTIONS_JSON]
// OPTIONS_JSON: more of the SDK's device options (e.g. baseReconnectTimeMs,
// drainTimeMs) over its defaults.
"use strict";

const awsIot = require("aws-iot-device-sdk");
const readline = require("readline");

const [host, port, caPath, certPath, keyPath, clientId, topic, options] = process.argv.slice(2);
if (!topic) {
  process.stderr.write("usage: node device.js HOST PORT ROOT_CA CERT KEY CLIENT_ID TOPIC [OPTIONS_JSON]\n");
  process.exit(2);
}

function say(event, fields) {
  process.stdout.write(JSON.stringify({ event, at: Date.now(), ...fields }) + "\n");
}

const device = awsIot.device({
  host, port: Number(port), caPath, certPath, keyPath, clientId, protocol: "mqtts",
  ...JSON.parse(options || "{}"),
});

let subscribed = false;
device.on("connect", () => {
  say("connect");
  if (subscribed) return; // the SDK renews its subscriptions itself
  subscribed = true;
  device.subscribe(topic, { qos: 1 }, (err, granted) => say("subscribed", { error: err ? String(err) : null, granted }));
});
for (const name of ["close", "offline", "reconnect"]) device.on(name, () => say(name));
device.on("error", (err) => say("error", { message: String((err && err.message) || err) }));
device.on("message", (t, payload) => say("message", { topic: t, payload: payload.toString() }));

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.publish) {
    for (let seq = cmd.from; seq < cmd.from + cmd.publish; seq++) {
      device.publish(topic, JSON.stringify({ seq }), { qos: 1 });
    }
    say("published", { from: cmd.from, count: cmd.publish });
  } else if (cmd.end) {
    device.end(false, () => {
      say("ended");
      process.exit(0);
    });
  }
});
