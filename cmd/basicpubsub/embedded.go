package main

import (
	"context"
	"fmt"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/client/awschain"
)

// startEmbedded starts the embedded broker for the sample, and returns the
// socket factory that reaches the listener the sample uses: mutual TLS, or,
// with -w, WebSocket accepting the AWS credentials found in the environment.
func startEmbedded(ctx context.Context, o *options, log *timeline) (*broker.Broker, client.DialFunc, error) {
	opts := []broker.Option{broker.WithThingName(o.clientID)}
	if o.websocket {
		creds, err := awschain.Provider().Retrieve(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("-w with the embedded broker signs with the AWS credentials of the environment "+
				"(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, any values will do), and found none: %w", err)
		}
		opts = append(opts, broker.WithWebSocket(map[string]string{creds.AccessKeyID: creds.SecretAccessKey}))
	}
	b, err := broker.StartTLS(opts...)
	if err != nil {
		return nil, nil, err
	}
	if o.websocket {
		log.say("no --endpoint: started the embedded broker; WebSocket (SigV4) on %s, presented as wss://localhost:443/mqtt", b.WebSocket().Addr)
		return b, b.WebSocket().Proxy.DialContext, nil
	}
	log.say("no --endpoint: started the embedded broker on %s (mutual TLS; fresh CA and device certificate %s)", b.MTLS().Addr, b.ClientFiles().Cert)
	return b, b.MTLS().Proxy.DialContext, nil
}
