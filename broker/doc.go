// Package broker is an in-process MQTT broker for testing device code:
// mochi-mqtt behind a fault proxy, with certificates for mutual TLS and an
// event recorder, shaped like net/http/httptest. NewTLS(t) starts one for a
// test and closes it when the test ends; StartTLS starts one for a program.
//
//	b := broker.NewTLS(t)                       // mutual TLS on 127.0.0.1:0, fresh CA
//	l := b.MTLS()                               // Host "localhost", Port, Addr, URL, Proxy
//	files := b.ClientFiles()                    // root-CA.crt, <thing>.cert.pem, <thing>.private.key
//	cfg.ConfigureEndpoint(l.Host, l.Port)       // configure the device as for AWS…
//	cfg.ConfigureSocketFactory(l.Proxy.DialContext)
//	b.SetFault(broker.Blackhole, true)          // …and break things
//	ev, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnect, After: mark})
//
// # Listeners
//
// Each listener is a Listener value: host, port, address, URL and the fault
// Proxy in front of it. ListenerMTLS (mutual TLS, AWS IoT's 8883) always
// runs; WithALPN adds ListenerALPN (mutual TLS requiring ALPN, AWS IoT's
// 443), WithPlainTCP ListenerTCP, WithWebSocket ListenerWSS (SigV4-signed
// WebSocket on /mqtt). WithListenAddr chooses where a listener's proxy
// listens (8883, 443, …); by default each takes an ephemeral loopback port.
// WithMemoryNetwork puts everything on an in-memory network, for tests in
// a testing/synctest bubble.
//
// # Faults
//
// Switches stay on until switched off, with SetFault(f, on) on the broker
// (link faults on every listener) or on one Listener's Proxy (link faults
// only). Actions happen once.
//
//	fault                        kind                      what the device sees
//	Refuse                       FaultRefuse               ECONNREFUSED on the same port
//	HangUp                       FaultHangUp               accepted, then closed (EOF in the TLS handshake); each attempt recorded
//	Blackhole                    FaultBlackhole            bytes held both ways, sockets open: only keepalive notices
//	RejectConnect(rc)            FaultRejectConnect        CONNACK with return code rc (1–5), then close
//	WithholdPuback               FaultWithholdPuback       PUBLISH read, no PUBACK, no delivery
//	WithholdPubackOn(filter)     FaultWithholdPuback       the same, for the topics filter matches
//	AckWithoutDelivery           FaultAckWithoutDelivery   PUBACK, but no delivery
//	RefuseSubscription(filter)   FaultRefuseSubscription   SUBACK 0x80 for that filter
//	CutLinks(FIN or RST)         FaultCut                  every link closed: EOF, or connection reset
//	CutClient(id, FIN or RST)    FaultCut                  one client's link closed
//	DisconnectClient(id)         FaultDisconnect           the broker closes the session (3.1.1: no packet, as AWS)
//	Restart                      FaultRestart              every link cut, sessions and retained messages lost, same ports
//	SetWebSocketCredentials      FaultWebSocketCredentials other signatures get HTTP 403
//
// Every fault is recorded (KindFault, with its FaultKind) before it applies.
//
// # The recorder
//
// The recorder (Broker.Events) is the broker's account of what happened, in
// causal order: a packet the broker sends is recorded before its bytes
// leave, a packet it reads before it acts on it, and a fault before it is
// applied. So once a client has seen a CONNACK, PUBACK, SUBACK or delivery,
// its event is already recorded, and a wait with Match.After set to a
// Recorder.Seq taken earlier sees only what followed. Messages mochi does
// not deliver (a full write queue, the in-flight limit, a QoS 0 message for
// an offline session, a client's publish to $SYS) are recorded as DROPPED
// with the reason. The recorder keeps the latest DefaultEventLimit events
// (see WithEventLimit); a wait whose events were discarded before it saw
// them fails with ErrEventsDiscarded rather than missing them.
//
// # The AWS IoT Core profile
//
// By default the broker behaves like AWS IoT Core (AWSIoTCore, see
// Profile): QoS 0 and 1 only, 128 KiB payloads, topics of at most 256
// bytes and 7 slashes, 8 filters per SUBSCRIBE and 50 subscriptions per
// connection, 128-byte client ids, one CONNECT per second per client id,
// 100 publishes per second and 512 KiB/s per connection, at most 100
// unacknowledged QoS 1 deliveries (each dropped after an hour), keepalive clamped to 30–1200 s,
// retained messages only to exact filters, "#" not matching its parent,
// only AWS's reserved $aws topics, Basic Ingest, SNI required, a 1 h
// session expiry with stored messages resumed at 10 a second, no session
// across MQTT versions, shared subscriptions that queue for a group with
// no member online, the 24 h WebSocket lifetime, a client closed for
// sending before its CONNACK, and lifecycle events on $aws/events/…. Over
// MQTT 3.1.1 it answers a violation as AWS does, by
// closing the connection without a reply; the recorder says why
// (Event.Cause, Event.Reason). WithPlainMQTT gives plain mochi; WithProfile
// another profile (Profile.TimeScale shortens AWS's timers for tests on
// real sockets; Profile.Policy decides as an AWS IoT policy would). The
// README lists every behaviour with AWS's documentation and the defaults
// chosen where AWS's answer is not documented.
//
// # Device Shadow
//
// The broker answers the AWS IoT Device Shadow protocol for classic and
// named shadows on every thing (no registry needed): a client publishes
// to $aws/things/<thing>/shadow[/name/<shadow>]/get, /update or /delete,
// and the service publishes <op>/accepted or <op>/rejected, and after an
// accepted update update/delta (when desired and reported differ) and
// update/documents — ordinary publishes at QoS 1 (lowered to each
// subscription's), so every subscriber of a response topic gets them.
// It follows AWS's rules: objects merge, arrays and scalars replace, null
// deletes; metadata timestamps in epoch seconds; version +1 per accepted
// update, a mismatched "version" is 409; the clientToken echoed (over 64
// bytes: 400); 400 for invalid JSON, a missing or malformed state or too
// deep a section, 404 for no shadow, 413 for a stored state over 8 KiB,
// 415 for non-UTF-8, 429 past 10 requests in flight on a connection; a
// delete keeps the version numbering. WithShadow changes the limits and
// AWS's ambiguous points (ShadowOptions), and adds a service latency
// (ResponseDelay); WithoutShadow turns the service off.
//
// A test reads and sets shadows as an application would through AWS's data
// plane, with the same rules and the same MQTT notifications: Shadow,
// UpdateShadow, DeleteShadow. Every operation is recorded (KindShadow),
// with the thing, shadow name, operation, result code and answer. Shadows
// survive Restart: they are the service's, not the broker's.
//
// # What the harness does not do
//
// It speaks MQTT 3.1.1 and 5 as mochi does, plus what this package adds;
// it is not AWS IoT Core: policies are Go functions (Profile.Policy), no
// thing registry, no rules engine, no Jobs (of AWS's services it has the
// Device Shadow, above); the profile's gaps are listed in the README. It
// runs on loopback (or in memory) only, with one process's worth of
// clients: it measures a device, not a fleet. Link faults act on TCP
// connections as a whole (no packet loss, reordering or latency; the only
// shaping is the profile's throughput limit). It keeps sessions and retained messages in
// memory: Restart loses them, as a broker restart without persistence
// would.
package broker
