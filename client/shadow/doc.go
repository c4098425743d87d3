// Package shadow is the AWS IoT Device Shadow client on top of
// client.Client: the Go counterpart of the Python SDK's
// AWSIoTMQTTShadowClient and its deviceShadow handlers.
//
//	c, err := client.New(cfg) // the MQTT client, configured as usual
//	err = c.Connect(ctx)
//	bot, err := shadow.NewHandler(c, shadow.Config{ThingName: "Bot", PersistentSubscribe: true})
//	r, err := bot.Update(ctx, []byte(`{"state":{"reported":{"property":1}}}`))
//	err = bot.RegisterDeltaCallback(ctx, func(r shadow.Response) { … r.Payload … })
//
// A Handler serves one shadow: a thing's classic shadow, or one of its
// named shadows (Config.ShadowName). Get, Update and Delete publish the
// request with a fresh clientToken (Update keeps one the document already
// has) and wait for the answer carrying that token on the operation's
// accepted or rejected topic, bounded by ctx and Config.Timeout; their
// Async forms return the token at once and give the answer, or the
// timeout, to a callback. Answers carrying another token — another
// client's, or a request's that already timed out — are ignored.
//
// Requests are ordinary publishes of the client: offline they wait in its
// offline queue (if it has one) and go out after the reconnect, in order,
// behind their subscriptions; a request still unanswered when its timeout
// ends is reported as timed out, and its late answer is ignored.
//
// Subscriptions: with PersistentSubscribe, the accepted and rejected
// topics of an operation are subscribed at its first request and kept
// (renewed by the client after every reconnect); without it they are
// subscribed for each request and unsubscribed once no request of that
// operation waits, as the Python SDK's isPersistentSubscribe does.
//
// Versions: the handler keeps the newest version it has seen in accepted
// answers and deltas (Version); a delta that is not newer is stale and
// discarded; an accepted delete resets it.
//
// Callbacks run one at a time, in order, on a goroutine of the handler's
// (never on the client's dispatcher), so they may call the handler's
// blocking methods — a delta callback may Update the reported state. A
// panicking callback is recovered and logged.
package shadow
