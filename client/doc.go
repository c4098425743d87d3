// Package client is an MQTT 3.1.1 device client for AWS IoT Core: the Go
// counterpart of the AWS IoT Python SDK's AWSIoTMQTTClient, built on
// github.com/eclipse/paho.mqtt.golang.
//
// Configuration reads like the Python sample, line for line:
//
//	cfg := client.DefaultConfig("basicPubSub")
//	cfg.ConfigureEndpoint(host, 8883)
//	cfg.ConfigureCredentials(rootCAPath, privateKeyPath, certificatePath)
//	cfg.ConfigureAutoReconnectBackoffTime(1*time.Second, 32*time.Second, 20*time.Second)
//	cfg.ConfigureOfflinePublishQueueing(client.QueueInfinite, client.DropNewest)
//	cfg.ConfigureDrainingFrequency(2)
//	cfg.ConfigureConnectDisconnectTimeout(10 * time.Second)
//	cfg.ConfigureMQTTOperationTimeout(5 * time.Second)
//	c, err := client.New(cfg) // validates everything once; errors name the setting
//	err = c.Connect(ctx)
//
// The Config fields are the API, and a field left at zero means AWS's
// default; the Configure methods are exactly the Python SDK's configure
// methods, each setting the fields it names.
//
// # Connection life
//
// Port 8883 uses mutual TLS trusting only the configured root CA, verifying
// the host name and sending SNI; port 443 adds ALPN x-amzn-mqtt-ca; with
// UseWebsocket, MQTT goes over a SigV4-presigned WebSocket. Dial, TLS
// handshake and CONNACK are bounded together by the connect timeout. A
// refused CONNACK is a *ConnectError, a refused TLS handshake ErrTLSRefused.
//
// After Connect, one goroutine owns the connection. When it is lost, the
// owner waits BackoffBase, then min(BackoffBase·2ⁿ, BackoffMax) between
// attempts, on a schedule counted from the loss (like a ticker, so timer
// lateness does not accumulate, and slots missed by a slow attempt are
// skipped, never made up in a burst); the wait returns to BackoffBase once a
// connection has stayed up for StableConnectionTime. After each reconnect it
// renews every confirmed subscription (waiting for the SUBACK), then drains
// the queue at DrainingFrequency, one request per tick, the first at once.
// Status and WaitStatus tell where it is.
//
// # Requests and results
//
// Publish, Subscribe and Unsubscribe (and their Async forms) are validated
// before anything is queued. On a stable connection they go straight out;
// otherwise — offline, recovering, or while the live connection has not yet
// taken the requests before them — they wait in the queue, in order, under
// its bound and drop behaviour, and the Outcome says so. Asynchronous calls
// never wait on the network; synchronous ones wait for the acknowledgement
// within their context and the operation timeout (Sent, Queued if the
// connection dropped under the request, Pending if they stopped waiting).
// Errors are testable with errors.Is: ErrQueueFull, ErrQueueDisabled,
// ErrTimeout, ErrNotConnected, ErrInvalidTopic, ErrInvalidQoS,
// ErrPayloadTooLarge, ErrSubscriptionRefused, ErrConnectionRefused,
// ErrTLSRefused, ErrRejectedByBroker, ErrInvalidConfig, ErrQueueStorage,
// ErrQueueDirInUse, ErrClosed.
//
// Nothing leaves the queue until a live connection has taken it (for QoS 1,
// until the PUBACK): requests in flight when a connection drops go back to
// their place in the queue and are sent again (at least once); what the
// connection had finished is not. Acknowledgements settle as they arrive,
// in any order. A request the broker answers by closing the connection (as
// AWS IoT Core does when it refuses one) is rejected after
// RejectAfterCloses closes, so the requests behind it can go out.
//
// # A queue that survives the process
//
// With OfflineQueueDir, every publish that joins the queue (or goes back
// to it from a lost connection) is also in that directory until it is
// finished, so a program killed or rebooted loses nothing it was told was
// Queued: SyncEachRequest has fsynced it before the call returns,
// SyncBatched has written it then (it survives a kill at once) and fsyncs
// it within OfflineQueueSyncDelay (then it survives a power loss too). New
// restores what it finds, in order, and Connect drains it under the same
// rules; Close releases the directory. A full disk is an error on the call
// (ErrQueueStorage), a directory another client has open ErrQueueDirInUse,
// and a damaged record is skipped with a log line.
//
// # Callbacks
//
// OnOnline, OnOffline, OnMessage, message callbacks and ack callbacks run
// one at a time, in order, on a dispatcher goroutine, never on the network
// path: a slow callback does not delay acknowledgements, a panicking one is
// recovered and logged (and keeps a message from no other callback), and
// callbacks may call the client, including its blocking methods.
package client
