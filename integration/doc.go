// Package integration holds end-to-end scenarios that drive the client
// through real link failures and assert on what was seen on the wire:
// back-off timing, offline queueing, the paced drain, keepalive detection,
// refusals, and no loss across repeated cuts.
//
// By default the scenarios run against the embedded broker (package broker)
// and use its recorder. Given -endpoint (and -port, -rootCA, -cert, -key,
// -clientId), the same scenarios run against that broker instead (AWS IoT
// Core, mosquitto, any MQTT 3.1.1 broker with mutual TLS): the client dials
// a fault proxy in front of the endpoint, TLS still verifies the endpoint's
// host name, and arrivals are observed by a second, directly connected
// client. Scenarios that need broker-side hooks say they were skipped and
// why.
//
//	go test ./integration -endpoint HOST [-port N] -rootCA F -cert F -key F [-clientId ID]
//
// With -aws (the endpoint is AWS IoT Core), the scenarios about AWS IoT
// Core's own behaviour (TestAWS*, the Device Shadow) run against it too;
// against other brokers they are skipped.
//
// With -realtime, TestRealtimeSchedule runs the seed's exact settings (back-off
// 1 s, 32 s, 20 s; 2 Hz; 10 s and 5 s timeouts) and prints the measured
// schedule (make test-realtime).
package integration
