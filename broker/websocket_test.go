package broker_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	paho "github.com/eclipse/paho.mqtt.golang"
	pahopackets "github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
	"github.com/iotmqtt/iotmqtt/internal/wsconn"
)

var testCreds = map[string]string{"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}

// presign returns a wss URL for host, signed like AWS's SDKs sign for AWS IoT.
func presign(t *testing.T, host, keyID, secret, service string, at time.Time) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://"+host+"/mqtt?X-Amz-Expires=86400", nil)
	require.NoError(t, err)
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret, SessionToken: "tok+en/=="},
		req, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", service, "us-east-1", at,
		func(o *v4.SignerOptions) { o.DisableSessionToken = true })
	require.NoError(t, err)
	return "wss" + strings.TrimPrefix(signed, "https") + "&X-Amz-Security-Token=" + url.QueryEscape("tok+en/==")
}

func wsDial(t *testing.T, b *broker.Broker, u string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	addr := b.WebSocket().Addr
	d := websocket.Dialer{
		NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig:  &tls.Config{RootCAs: b.CA.CertPool(), ServerName: "localhost"},
		Subprotocols:     []string{"mqtt"},
		HandshakeTimeout: 5 * time.Second,
	}
	return d.Dial(u, nil)
}

func wsHost(b *broker.Broker) string {
	_, port, _ := net.SplitHostPort(b.WebSocket().Addr)
	return "localhost:" + port
}

func TestWebSocketSigV4ConnectPublishAndCut(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithWebSocket(testCreds))
	ctx := testenv.Context(t)
	for _, service := range []string{"iotdevicegateway", "iotdata"} {
		t.Run(service, func(t *testing.T) {
			mark := b.Events.Seq()
			lost := make(chan error, 1)
			opts := paho.NewClientOptions().AddBroker("ws://unused").SetClientID("ws-" + service).SetProtocolVersion(4).
				SetAutoReconnect(false).SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }).
				SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) {
					ws, _, err := wsDial(t, b, presign(t, wsHost(b), "AKIDEXAMPLE", testCreds["AKIDEXAMPLE"], service, time.Now()))
					if err != nil {
						return nil, err
					}
					return wsconn.New(ws), nil
				})
			pc := paho.NewClient(opts)
			require.NoError(t, testenv.WaitToken(pc.Connect()))
			defer pc.Disconnect(0)
			require.NoError(t, testenv.WaitToken(pc.Publish("ws/t", 1, false, "over websocket")))

			up, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindUpgrade, After: mark})
			require.NoError(t, err)
			require.Equal(t, http.StatusSwitchingProtocols, up.HTTPStatus)
			require.Contains(t, up.Detail, "X-Amz-Signature=")
			require.Contains(t, up.Detail, "%2F"+service+"%2F")
			c, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnect, ClientID: "ws-" + service})
			require.NoError(t, err)
			require.Equal(t, broker.ListenerWSS, c.Listener)
			require.Equal(t, "localhost", c.ServerName)
			p, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindPublish, Topic: "ws/t", After: mark})
			require.NoError(t, err)
			require.Equal(t, "over websocket", string(p.Payload))

			require.Equal(t, 1, b.WebSocket().Proxy.CutLinks(broker.FIN))
			select {
			case <-lost:
			case <-ctx.Done():
				t.Fatal("the cut was not noticed over WebSocket")
			}
		})
	}
}

func TestWebSocketRefusesBadSignatures(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithWebSocket(testCreds))
	ctx := testenv.Context(t)
	host := wsHost(b)
	good := presign(t, host, "AKIDEXAMPLE", testCreds["AKIDEXAMPLE"], "iotdevicegateway", time.Now())
	tests := []struct {
		name, url, cause string
	}{
		{"wrong secret", presign(t, host, "AKIDEXAMPLE", "not-the-secret", "iotdevicegateway", time.Now()), "signature does not match"},
		{"expired", presign(t, host, "AKIDEXAMPLE", testCreds["AKIDEXAMPLE"], "iotdevicegateway", time.Now().Add(-25*time.Hour)), "expired"},
		{"tampered", strings.Replace(good, "X-Amz-Expires=86400", "X-Amz-Expires=86401", 1), "signature does not match"},
		{"unsigned", "wss://" + host + "/mqtt", "X-Amz-Algorithm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mark := b.Events.Seq()
			_, resp, err := wsDial(t, b, tt.url)
			require.ErrorIs(t, err, websocket.ErrBadHandshake)
			require.Equal(t, http.StatusForbidden, resp.StatusCode)
			resp.Body.Close()
			up, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindUpgrade, After: mark})
			require.NoError(t, err)
			require.Equal(t, http.StatusForbidden, up.HTTPStatus)
			require.Contains(t, up.Cause, tt.cause)
		})
	}

	// New credentials take effect at once.
	b.SetWebSocketCredentials(map[string]string{"AKIDOTHER": "s3cret"})
	_, resp, err := wsDial(t, b, good)
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp.Body.Close()
}

// The Python SDK's client sends a 172-character key and looks for the exact
// bytes "sec-websocket-accept: " in the response.
func TestWebSocketHandshakeSuitsThePythonSDK(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithWebSocket(testCreds))
	u, err := url.Parse(presign(t, wsHost(b), "AKIDEXAMPLE", testCreds["AKIDEXAMPLE"], "iotdata", time.Now()))
	require.NoError(t, err)
	raw := make([]byte, 128)
	_, _ = rand.Read(raw)
	key := base64.StdEncoding.EncodeToString(raw)
	require.Len(t, key, 172)

	conn, err := tls.Dial("tcp", b.WebSocket().Addr, &tls.Config{RootCAs: b.CA.CertPool(), ServerName: "localhost"})
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Protocol: mqttv3.1\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nsec-websocket-key: %s\r\n\r\n",
		u.RequestURI(), wsHost(b), key)
	r := bufio.NewReader(conn)
	var resp strings.Builder
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		resp.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	got := resp.String()
	require.Contains(t, strings.ToLower(got), "101 switching protocols")
	require.Contains(t, strings.ToLower(got), "upgrade: websocket")
	require.Contains(t, strings.ToLower(got), "connection: upgrade")
	require.Contains(t, got, "sec-websocket-accept: "+base64.StdEncoding.EncodeToString(sum[:])+"\r\n")
	require.Contains(t, got, "sec-websocket-protocol: mqttv3.1")
	require.NotContains(t, strings.ToLower(got), "permessage-deflate")
}

func TestCustomAuthorizer(t *testing.T) {
	t.Parallel()
	authorize := func(username, password string) bool {
		_, query, _ := strings.Cut(username, "?")
		q, err := url.ParseQuery(query)
		return err == nil && q.Get("x-amz-customauthorizer-name") == "MyAuth" && password == "token"
	}
	b := broker.NewTLS(t, broker.WithCustomAuthorizer(authorize))
	ctx := testenv.Context(t)
	noCert := &tls.Config{RootCAs: b.CA.CertPool(), ServerName: "localhost", NextProtos: []string{broker.ALPNMQTT}}
	user := "device?x-amz-customauthorizer-name=MyAuth&SDK=iotmqtt&Version=0.1.0"

	pc := newPaho(t, b.MTLS().Addr, noCert, "custom", func(o *paho.ClientOptions) { o.SetUsername(user).SetPassword("token") })
	require.NoError(t, testenv.WaitToken(pc.Connect()))
	c, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnect, ClientID: "custom"})
	require.NoError(t, err)
	require.Equal(t, broker.ALPNMQTT, c.ALPN)
	require.Equal(t, user, c.Username)
	require.Empty(t, c.PeerCN)

	// A denied CONNECT is closed without CONNACK, as AWS IoT Core does over
	// MQTT 3.1.1 (paho's code 0xfe: no CONNACK), recorded as AUTH_ERROR.
	bad := newPaho(t, b.MTLS().Addr, noCert, "custom-bad", func(o *paho.ClientOptions) { o.SetUsername(user).SetPassword("wrong") })
	tok := bad.Connect()
	require.Error(t, testenv.WaitToken(tok))
	require.Equal(t, byte(pahopackets.ErrNetworkError), tok.(*paho.ConnectToken).ReturnCode())
	d, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDisconnect, ClientID: "custom-bad"})
	require.NoError(t, err)
	require.Equal(t, broker.ReasonAuthError, d.Reason)
	require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindConnack, ClientID: "custom-bad"}))

	// Without a certificate and without ALPN mqtt: refused in the handshake.
	mark := b.Events.Seq()
	plain := newPaho(t, b.MTLS().Addr, &tls.Config{RootCAs: b.CA.CertPool(), ServerName: "localhost"}, "custom-noalpn")
	require.Error(t, testenv.WaitToken(plain.Connect()))
	f, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindTLSFailure, After: mark})
	require.NoError(t, err)
	require.Contains(t, f.Cause, `needs ALPN "mqtt"`)

	// Devices with certificates are unaffected.
	connected(t, b, "with-cert")
}

// A refused TLS handshake on the WebSocket listener is recorded with the
// client's own address, as on the mutual-TLS listener.
func TestWebSocketRecordsTLSFailures(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithWebSocket(testCreds))
	ctx := testenv.Context(t)
	raw, err := net.DialTimeout("tcp", b.WebSocket().Addr, testTimeout)
	require.NoError(t, err)
	defer raw.Close()
	require.NoError(t, raw.SetDeadline(time.Now().Add(testTimeout)))
	// The client does not trust the broker's CA and aborts the handshake.
	require.Error(t, tls.Client(raw, &tls.Config{ServerName: "localhost", RootCAs: x509.NewCertPool()}).Handshake())

	f, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindTLSFailure})
	require.NoError(t, err)
	require.Equal(t, broker.ListenerWSS, f.Listener)
	require.Equal(t, raw.LocalAddr().String(), f.Remote)
	require.Contains(t, f.Cause, "bad certificate")
}
