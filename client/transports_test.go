package client_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/client/awschain"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

var iamCreds = map[string]string{"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}

// websocketConfig configures a WebSocket client for b's wss listener as for
// AWS (port 443, root CA only), reaching it through the socket factory.
func websocketConfig(b *broker.Broker, clientID string) client.Config {
	cfg := deviceConfig(b, clientID)
	cfg.UseWebsocket = true
	cfg.Region = "us-east-1"
	cfg.ConfigureEndpoint("localhost", 443)
	cfg.ConfigureCredentials(b.ClientFiles().RootCA, "", "")
	cfg.ConfigureSocketFactory(b.WebSocket().Proxy.DialContext)
	return cfg
}

func upgradeQuery(t *testing.T, e broker.Event) url.Values {
	t.Helper()
	u, err := url.Parse(e.Detail)
	require.NoError(t, err)
	return u.Query()
}

func TestWebSocketConnectPublishSubscribe(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithWebSocket(iamCreds))
	ctx := testenv.Context(t)
	cfg := websocketConfig(b, "ws-device")
	cfg.ConfigureIAMCredentials("AKIDEXAMPLE", iamCreds["AKIDEXAMPLE"], "")
	c := testenv.Connect(t, cfg)
	got := make(chan client.Message, 1)
	_, err := c.Subscribe(ctx, "ws/echo", client.QoS1, func(m client.Message) { got <- m })
	require.NoError(t, err)
	out, err := c.Publish(ctx, "ws/echo", []byte("over wss"), client.QoS1)
	require.NoError(t, err)
	require.Equal(t, client.Sent, out)
	require.Equal(t, "over wss", string((<-got).Payload))

	up, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindUpgrade})
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, up.HTTPStatus)
	require.True(t, strings.HasPrefix(up.Detail, "/mqtt?"))
	q := upgradeQuery(t, up)
	require.Equal(t, "AKIDEXAMPLE/"+time.Now().UTC().Format("20060102")+"/us-east-1/iotdevicegateway/aws4_request", q.Get("X-Amz-Credential"))
	require.Empty(t, q.Get("X-Amz-Security-Token"))
	ev, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnect, ClientID: "ws-device"})
	require.NoError(t, err)
	require.Equal(t, broker.ListenerWSS, ev.Listener)
	require.Equal(t, "localhost", ev.ServerName)
	require.Empty(t, ev.PeerCN, "no client certificate over WebSocket")
}

// Every connection attempt is signed afresh; a 403 while reconnecting is one
// more failed attempt, not the end of the reconnect loop.
func TestWebSocketReconnectSignsAfreshAndSurvives403(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t, broker.WithWebSocket(iamCreds))
		ctx := testenv.Context(t)
		cfg := websocketConfig(b, "ws-reconnect")
		cfg.ConfigureIAMCredentials("AKIDEXAMPLE", iamCreds["AKIDEXAMPLE"], "")
		// A base wait over a second: the second signature has another
		// X-Amz-Date, so it must differ from the first.
		cfg.ConfigureAutoReconnectBackoffTime(1100*time.Millisecond, 2*time.Second, 5*time.Second)
		c := testenv.Connect(t, cfg)

		mark := b.Events.Seq()
		b.SetWebSocketCredentials(map[string]string{"AKIDOTHER": "other"}) // the device's key is revoked
		b.WebSocket().Proxy.CutLinks(broker.FIN)
		refused, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindUpgrade, After: mark})
		require.NoError(t, err)
		require.Equal(t, http.StatusForbidden, refused.HTTPStatus)
		require.Contains(t, refused.Cause, "unknown access key id")
		require.Equal(t, client.StatusConnecting, c.Status(), "still trying")

		b.SetWebSocketCredentials(iamCreds)
		ok, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindUpgrade, After: refused.Seq})
		require.NoError(t, err)
		require.Equal(t, http.StatusSwitchingProtocols, ok.HTTPStatus)
		testenv.WaitStatus(t, c, client.StatusStable)

		all := b.Events.Events(broker.Match{Kind: broker.KindUpgrade})
		sigs := map[string]bool{}
		for _, e := range all {
			sigs[upgradeQuery(t, e).Get("X-Amz-Signature")] = true
		}
		require.Len(t, sigs, len(all), "a fresh signature for each of %d attempts", len(all))
	})
}

func TestWebSocketCredentialsFromTheEnvironment(t *testing.T) {
	b := broker.NewTLS(t, broker.WithWebSocket(iamCreds))
	ctx := testenv.Context(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", iamCreds["AKIDEXAMPLE"])
	t.Setenv("AWS_SESSION_TOKEN", "FwoG+session/token=")
	cfg := websocketConfig(b, "ws-env")
	cfg.Credentials = awschain.Provider()
	testenv.Connect(t, cfg)
	up, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindUpgrade})
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, up.HTTPStatus)
	require.Equal(t, "FwoG+session/token=", upgradeQuery(t, up).Get("X-Amz-Security-Token"), "appended after signing")
}

func TestWebSocketErrorsAreClear(t *testing.T) {
	b := broker.NewTLS(t, broker.WithWebSocket(iamCreds))
	ctx := testenv.Context(t)

	// No credentials anywhere.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg := websocketConfig(b, "ws-nocreds")
	cfg.Credentials = awschain.Provider()
	c := testenv.NewClient(t, cfg)
	require.ErrorContains(t, c.Connect(ctx), "no AWS credentials for WebSocket SigV4")

	// None configured at all: New says where they come from.
	_, err := client.New(websocketConfig(b, "ws-none"))
	require.ErrorContains(t, err, "awschain.Provider()")

	// A wrong secret: the broker answers 403, and the error says so.
	cfg = websocketConfig(b, "ws-wrong")
	cfg.ConfigureIAMCredentials("AKIDEXAMPLE", "not-the-secret", "")
	c = testenv.NewClient(t, cfg)
	require.ErrorContains(t, c.Connect(ctx), "WebSocket upgrade refused by localhost:443: HTTP 403 Forbidden")

	// A non-AWS endpoint without a region.
	cfg = websocketConfig(b, "ws-noregion")
	cfg.Region = ""
	_, err = client.New(cfg)
	require.ErrorContains(t, err, "Region is needed for WebSocket SigV4")
}

func TestCustomAuthorizerOn443(t *testing.T) {
	t.Parallel()
	authorize := func(username, password string) bool {
		_, query, _ := strings.Cut(username, "?")
		q, err := url.ParseQuery(query)
		return err == nil && q.Get("x-amz-customauthorizer-name") == "MyAuth" && q.Get("SDK") == "iotmqtt" && password == "token"
	}
	b := broker.NewTLS(t, broker.WithCustomAuthorizer(authorize))
	ctx := testenv.Context(t)
	cfg := deviceConfig(b, "custom-auth")
	cfg.ConfigureEndpoint("localhost", 443)
	cfg.ConfigureSocketFactory(b.MTLS().Proxy.DialContext)
	cfg.ConfigureCredentials(b.ClientFiles().RootCA, "", "")
	cfg.ConfigureUsernamePassword("device?x-amz-customauthorizer-name=MyAuth", "token")
	testenv.Connect(t, cfg)
	ev, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnect, ClientID: "custom-auth"})
	require.NoError(t, err)
	require.Equal(t, broker.ALPNMQTT, ev.ALPN)
	require.Equal(t, "device?x-amz-customauthorizer-name=MyAuth&SDK=iotmqtt&Version="+client.Version, ev.Username)

	// AWS IoT Core closes the connection without CONNACK for a denied
	// CONNECT over MQTT 3.1.1; plain MQTT brokers answer return code 5.
	cfg.ClientID = "custom-auth-denied"
	cfg.ConfigureUsernamePassword("device?x-amz-customauthorizer-name=MyAuth", "wrong")
	err = testenv.NewClient(t, cfg).Connect(ctx)
	require.Error(t, err)
	require.NotErrorIs(t, err, client.ErrConnectionRefused)
	d, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDisconnect, ClientID: "custom-auth-denied"})
	require.NoError(t, err)
	require.Equal(t, broker.ReasonAuthError, d.Reason)

	plain := broker.NewTLS(t, broker.WithCustomAuthorizer(authorize), broker.WithPlainMQTT())
	cfg.ConfigureSocketFactory(plain.MTLS().Proxy.DialContext)
	cfg.ConfigureCredentials(plain.ClientFiles().RootCA, "", "")
	err = testenv.NewClient(t, cfg).Connect(ctx)
	require.ErrorIs(t, err, client.ErrConnectionRefused)
}
