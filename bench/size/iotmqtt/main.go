// Command iotmqtt is the smallest mutual-TLS publisher on package client:
// make bench builds it and compares its size with the same program on raw
// paho (../paho). It is not meant to be run.
package main

import (
	"context"
	"os"

	"github.com/iotmqtt/iotmqtt/client"
)

func main() {
	cfg := client.DefaultConfig("size")
	cfg.ConfigureEndpoint(os.Args[1], 8883)
	cfg.ConfigureCredentials(os.Args[2], os.Args[3], os.Args[4])
	c, err := client.New(cfg)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := c.Connect(ctx); err != nil {
		panic(err)
	}
	if _, err := c.Publish(ctx, "size", []byte("x"), client.QoS1); err != nil {
		panic(err)
	}
	_ = c.Disconnect(ctx)
}
