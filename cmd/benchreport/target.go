package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/certs"
	"github.com/iotmqtt/iotmqtt/client"
)

// endpoint says where to measure: the embedded broker (host empty) or an
// external one.
type endpoint struct {
	host              string
	port              int
	rootCA, cert, key string
	clientID          string
	topicPrefix       string
}

// target is one broker to measure against, with a fault proxy in front:
// clients dial the proxy, which records connection attempts and can cut.
type target struct {
	b      *broker.Broker // nil for an external endpoint
	proxy  *broker.Proxy
	events *broker.Recorder
	host   string
	port   int
	files  certs.DeviceFiles
	id     string
	topics string
}

// open starts a target; quiet leaves messages out of the embedded broker's
// recorder (for throughput).
func (e endpoint) open(name string, quiet bool) (*target, error) {
	t := &target{id: e.clientID + "-" + name, topics: e.topicPrefix + "/" + name}
	if e.host == "" {
		opts := []broker.Option{broker.WithThingName(e.clientID)}
		if quiet {
			opts = append(opts, broker.WithoutMessageRecording())
		}
		b, err := broker.Start(opts...)
		if err != nil {
			return nil, err
		}
		t.b, t.proxy, t.events = b, b.MTLSProxy(), b.Events
		t.host, t.port, t.files = b.Host(), b.Port(), b.ClientFiles()
		return t, nil
	}
	t.events = broker.NewRecorder()
	p, err := broker.NewProxy(net.JoinHostPort(e.host, strconv.Itoa(e.port)), broker.ProxyRecorder(t.events, "proxy"))
	if err != nil {
		return nil, err
	}
	t.proxy, t.host, t.port = p, e.host, e.port
	t.files = certs.DeviceFiles{RootCA: e.rootCA, Cert: e.cert, PrivateKey: e.key}
	return t, nil
}

func (t *target) close() {
	if t.b != nil {
		t.b.Close()
		return
	}
	t.proxy.Close()
}

// config configures an iotmqtt client for the target, dialling the proxy.
func (t *target) config(name string) client.Config {
	cfg := client.DefaultConfig(t.id + "-" + name)
	cfg.ConfigureEndpoint(t.host, t.port)
	cfg.ConfigureCredentials(t.files.RootCA, t.files.PrivateKey, t.files.Cert)
	cfg.ConfigureSocketFactory(t.proxy.DialContext)
	cfg.ConfigureAutoReconnectBackoffTime(10*time.Millisecond, 100*time.Millisecond, time.Second)
	cfg.ConfigureDrainingFrequency(1000)
	cfg.ConfigureConnectDisconnectTimeout(10 * time.Second)
	cfg.ConfigureMQTTOperationTimeout(10 * time.Second)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return cfg
}

// connect makes and connects an iotmqtt client.
func (t *target) connect(cfg client.Config) (*client.Client, error) {
	c, err := client.New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// disconnect ends an iotmqtt client.
func disconnect(c *client.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = c.Disconnect(ctx)
}

// paho connects a raw paho client the way iotmqtt connects: MQTT 3.1.1,
// mutual TLS with the same files, through the same proxy.
func (t *target) paho(name string) (paho.Client, error) {
	pool, kp, err := certs.LoadDeviceFiles(t.files)
	if err != nil {
		return nil, err
	}
	opts := paho.NewClientOptions().AddBroker("tls://" + t.proxy.Addr()).SetClientID(t.id + "-" + name).
		SetTLSConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{kp.TLSCertificate()}, ServerName: t.host, MinVersion: tls.VersionTLS12}).
		SetProtocolVersion(4).SetAutoReconnect(false).SetKeepAlive(600 * time.Second).
		SetWriteTimeout(10 * time.Second).SetOrderMatters(true)
	pc := paho.NewClient(opts)
	if tok := pc.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("paho connect: %v", tok.Error())
	}
	return pc, nil
}
