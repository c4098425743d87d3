package broker_test

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// BenchmarkStart measures a broker start with fresh certificates (CA, server
// and device certificates, files written) and its Close.
func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		br, err := broker.StartTLS()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		br.Close()
		b.StartTimer()
	}
}

// BenchmarkMTLSConnect measures a paho mutual-TLS connect (TCP, TLS 1.3
// handshake, CONNECT/CONNACK) through the fault proxy.
func BenchmarkMTLSConnect(b *testing.B) {
	br := broker.NewTLS(b, testenv.QuickReconnects()) // one client id, reconnecting at once
	opts := paho.NewClientOptions().AddBroker("tls://" + br.MTLS().Addr).SetClientID("bench").
		SetTLSConfig(br.ClientTLSConfig()).SetProtocolVersion(4).SetAutoReconnect(false)
	for b.Loop() {
		c := paho.NewClient(opts)
		if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			b.Fatalf("connect: %v", tok.Error())
		}
		b.StopTimer()
		c.Disconnect(0)
		b.StartTimer()
	}
}

// BenchmarkCutToConnectionLost measures the time from CutLinks (FIN) to
// paho's connection-lost callback.
func BenchmarkCutToConnectionLost(b *testing.B) {
	br := broker.NewTLS(b, testenv.QuickReconnects()) // one client id, reconnecting at once
	lost := make(chan time.Time, 1)
	opts := paho.NewClientOptions().AddBroker("tls://" + br.MTLS().Addr).SetClientID("bench").
		SetTLSConfig(br.ClientTLSConfig()).SetProtocolVersion(4).SetAutoReconnect(false).
		SetConnectionLostHandler(func(paho.Client, error) { lost <- time.Now() })
	c := paho.NewClient(opts)
	defer c.Disconnect(0)
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			b.Fatalf("connect: %v", tok.Error())
		}
		b.StartTimer()
		start := time.Now()
		br.CutLinks(broker.FIN)
		select {
		case at := <-lost:
			total += at.Sub(start)
		case <-time.After(5 * time.Second):
			b.Fatal("connection loss not reported")
		}
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/cut")
}
