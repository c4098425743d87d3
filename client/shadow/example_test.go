package shadow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/client/shadow"
)

// A device reports its state, and reacts to the desired state an
// application sets (here the embedded broker's data plane stands in for
// the application).
func Example() {
	b, err := broker.StartTLS()
	if err != nil {
		panic(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	l, files := b.MTLS(), b.ClientFiles()
	cfg := client.DefaultConfig("Bot")
	cfg.ConfigureEndpoint(l.Host, l.Port)
	cfg.ConfigureCredentials(files.RootCA, files.PrivateKey, files.Cert)
	cfg.ConfigureSocketFactory(l.Proxy.DialContext)
	c, err := client.New(cfg)
	if err != nil {
		panic(err)
	}
	if err := c.Connect(ctx); err != nil {
		panic(err)
	}
	defer c.Disconnect(ctx)

	bot, err := shadow.NewHandler(c, shadow.Config{ThingName: "Bot", PersistentSubscribe: true})
	if err != nil {
		panic(err)
	}
	r, err := bot.Update(ctx, []byte(`{"state":{"reported":{"property":1}}}`))
	if err != nil {
		panic(err)
	}
	fmt.Println("update", r.Status, "version", r.Version)

	deltas := make(chan shadow.Response, 1)
	if err := bot.RegisterDeltaCallback(ctx, func(r shadow.Response) { deltas <- r }); err != nil {
		panic(err)
	}
	if _, err := b.UpdateShadow(ctx, "Bot", "", []byte(`{"state":{"desired":{"property":2}}}`)); err != nil {
		panic(err)
	}
	var d shadow.Response
	select {
	case d = <-deltas:
	case <-ctx.Done():
		panic("no delta in 10 s")
	}
	var delta struct{ State json.RawMessage }
	if err := json.Unmarshal(d.Payload, &delta); err != nil {
		panic(err)
	}
	fmt.Println(d.Status, string(delta.State), "version", d.Version)
	// Output:
	// update accepted version 1
	// delta {"property":2} version 2
}
