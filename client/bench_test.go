package client_test

import (
	"context"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

var payload100 = make([]byte, 100)

func benchClient(b *testing.B, br *broker.Broker, id string) *client.Client {
	b.Helper()
	cfg := deviceConfig(br, id)
	c, err := client.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Connect(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Disconnect(context.Background()) })
	return c
}

func benchPaho(b *testing.B, br *broker.Broker, id string) paho.Client {
	b.Helper()
	pc := paho.NewClient(paho.NewClientOptions().AddBroker("tls://" + br.MTLS().Addr).SetClientID(id).
		SetTLSConfig(br.ClientTLSConfig()).SetProtocolVersion(4).SetAutoReconnect(false).
		SetWriteTimeout(5 * time.Second))
	if tok := pc.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		b.Fatalf("paho connect: %v", tok.Error())
	}
	b.Cleanup(func() { pc.Disconnect(0) })
	return pc
}

// BenchmarkPublishQoS1Sync: one publish at a time, each waiting for its
// PUBACK, over mutual TLS; iotmqtt and raw paho on the same broker.
func BenchmarkPublishQoS1Sync(b *testing.B) {
	br := broker.NewTLS(b, testenv.Unthrottled())
	b.Run("iotmqtt", func(b *testing.B) {
		c := benchClient(b, br, "bench-sync")
		ctx := context.Background()
		for b.Loop() {
			if _, err := c.Publish(ctx, "bench/sync", payload100, client.QoS1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("paho", func(b *testing.B) {
		pc := benchPaho(b, br, "bench-sync-paho")
		for b.Loop() {
			tok := pc.Publish("bench/sync", 1, false, payload100)
			if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				b.Fatal(tok.Error())
			}
		}
	})
}

// asyncWindow is how many asynchronous publishes the benchmarks leave
// unacknowledged before waiting for them all, so that the time per
// operation includes the acknowledgement.
const asyncWindow = 1000

// BenchmarkPublishQoS1Async: publish without waiting, waiting for every
// PUBACK once per window.
func BenchmarkPublishQoS1Async(b *testing.B) {
	br := broker.NewTLS(b, testenv.Unthrottled())
	b.Run("iotmqtt", func(b *testing.B) {
		c := benchClient(b, br, "bench-async")
		ctx := context.Background()
		n := 0
		for b.Loop() {
			if _, err := c.PublishAsync("bench/async", payload100, client.QoS1, nil); err != nil {
				b.Fatal(err)
			}
			if n++; n%asyncWindow == 0 {
				if err := c.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := c.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("paho", func(b *testing.B) {
		pc := benchPaho(b, br, "bench-async-paho")
		toks := make([]paho.Token, 0, asyncWindow)
		wait := func() {
			for _, tok := range toks {
				if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
					b.Fatal(tok.Error())
				}
			}
			toks = toks[:0]
		}
		for b.Loop() {
			if toks = append(toks, pc.Publish("bench/async", 1, false, payload100)); len(toks) == asyncWindow {
				wait()
			}
		}
		wait()
	})
}

// BenchmarkPublishQoS0Sync: one publish at a time, each waiting for the
// write.
func BenchmarkPublishQoS0Sync(b *testing.B) {
	br := broker.NewTLS(b, broker.WithoutMessageRecording(), testenv.Unthrottled())
	b.Run("iotmqtt", func(b *testing.B) {
		c := benchClient(b, br, "bench-q0")
		ctx := context.Background()
		for b.Loop() {
			if _, err := c.Publish(ctx, "bench/q0", payload100, client.QoS0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("paho", func(b *testing.B) {
		pc := benchPaho(b, br, "bench-q0-paho")
		for b.Loop() {
			tok := pc.Publish("bench/q0", 0, false, payload100)
			if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				b.Fatal(tok.Error())
			}
		}
	})
}
