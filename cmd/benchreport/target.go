package main

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// endpoint says where to measure: the embedded broker (host empty) or an
// external one.
type endpoint struct {
	testenv.Endpoint
	clientID    string
	topicPrefix string
}

// target is one broker to measure against, with a fault proxy in front:
// clients dial the proxy, which records connection attempts and can cut.
type target struct {
	*testenv.Target
	id     string
	topics string
}

// open starts a target; quiet leaves messages out of the embedded broker's
// recorder (for throughput).
func (e endpoint) open(name string, quiet bool) (*target, error) {
	t := &target{id: e.clientID + "-" + name, topics: e.topicPrefix + "/" + name}
	var err error
	if e.Host == "" {
		t.Target, err = testenv.Embedded(embeddedOptions(e.clientID, quiet)...)
	} else {
		t.Target, err = testenv.External(e.Endpoint)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// embeddedOptions configures the embedded broker of a measurement, in
// this process or in a process of its own; quiet leaves messages out of
// its recorder. A device on AWS may publish 100 times a second; measuring
// how fast the client can go needs those limits lifted.
func embeddedOptions(thing string, quiet bool) []broker.Option {
	opts := []broker.Option{broker.WithThingName(thing), testenv.Unthrottled()}
	if quiet {
		opts = append(opts, broker.WithoutMessageRecording())
	}
	return opts
}

func (t *target) close() { t.Close() }

// config configures an iotmqtt client for the target, dialling the proxy.
func (t *target) config(name string) client.Config {
	cfg := t.Config(t.id + "-" + name)
	cfg.ConfigureAutoReconnectBackoffTime(10*time.Millisecond, 100*time.Millisecond, time.Second)
	cfg.ConfigureDrainingFrequency(1000)
	cfg.ConfigureConnectDisconnectTimeout(10 * time.Second)
	cfg.ConfigureMQTTOperationTimeout(10 * time.Second)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return cfg
}

// paho connects a raw paho client the way iotmqtt connects: MQTT 3.1.1,
// mutual TLS with the same files, through the same proxy.
func (t *target) paho(name string) (paho.Client, error) {
	tlsCfg, err := t.TLSConfig()
	if err != nil {
		return nil, err
	}
	opts := paho.NewClientOptions().AddBroker("tls://" + t.Proxy.Addr()).SetClientID(t.id + "-" + name).
		SetTLSConfig(tlsCfg).
		SetProtocolVersion(4).SetAutoReconnect(false).SetKeepAlive(600 * time.Second).
		SetWriteTimeout(10 * time.Second).SetOrderMatters(true)
	pc := paho.NewClient(opts)
	if tok := pc.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("paho connect: %v", tok.Error())
	}
	return pc, nil
}
