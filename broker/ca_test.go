package broker_test

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/certs"
)

// A broker given a long-lived CA (a standalone endpoint whose devices keep
// their certificates) presents a server certificate that lasts as long.
func TestServerCertificateLastsAsLongAsTheCA(t *testing.T) {
	t.Parallel()
	ca, err := certs.NewCA(certs.WithValidity(90 * 24 * time.Hour))
	require.NoError(t, err)
	b := broker.NewTLS(t, broker.WithCA(ca))
	conn, err := tls.Dial("tcp", b.MTLS().Addr, b.ClientTLSConfig())
	require.NoError(t, err)
	defer conn.Close()
	server := conn.ConnectionState().PeerCertificates[0]
	require.Equal(t, ca.Cert.NotAfter, server.NotAfter)
	require.NoError(t, server.CheckSignatureFrom(ca.Cert))
}
