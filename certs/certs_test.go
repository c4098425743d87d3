package certs_test

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/certs"
)

func newCA(t *testing.T, opts ...certs.Option) *certs.CA {
	t.Helper()
	ca, err := certs.NewCA(opts...)
	require.NoError(t, err)
	return ca
}

func verifyClient(ca *certs.CA, kp *certs.KeyPair) error {
	_, err := kp.Cert.Verify(x509.VerifyOptions{
		Roots:     ca.CertPool(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err
}

func TestNewCADefaults(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	require.True(t, ca.Cert.IsCA)
	require.IsType(t, &ecdsa.PrivateKey{}, ca.Key)
	require.Equal(t, "iotmqtt test CA", ca.Cert.Subject.CommonName)
	require.WithinDuration(t, time.Now().Add(certs.DefaultValidity), ca.Cert.NotAfter, time.Minute)
	require.True(t, ca.Cert.NotBefore.Before(time.Now()), "NotBefore allows for clock skew")
}

func TestIssueServerSANs(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	tests := []struct {
		name     string
		hosts    []string
		wantDNS  []string
		wantIPs  []string
		verifyAs string
	}{
		{"default", nil, []string{"localhost"}, []string{"127.0.0.1"}, "localhost"},
		{"given", []string{"abc-ats.iot.eu-west-1.amazonaws.com", "127.0.0.2"}, []string{"abc-ats.iot.eu-west-1.amazonaws.com"}, []string{"127.0.0.2"}, "127.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kp, err := ca.IssueServer(tt.hosts)
			require.NoError(t, err)
			require.Equal(t, tt.wantDNS, kp.Cert.DNSNames)
			var ips []string
			for _, ip := range kp.Cert.IPAddresses {
				ips = append(ips, ip.String())
			}
			require.Equal(t, tt.wantIPs, ips)
			_, err = kp.Cert.Verify(x509.VerifyOptions{DNSName: tt.verifyAs, Roots: ca.CertPool()})
			require.NoError(t, err)
		})
	}
}

func TestIssueClient(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	other := newCA(t)
	tests := []struct {
		name    string
		issuer  *certs.CA
		opts    []certs.Option
		wantErr string
	}{
		{"valid", ca, nil, ""},
		{"RSA", ca, []certs.Option{certs.WithKeyType(certs.RSA2048)}, ""},
		{"expired", ca, []certs.Option{certs.Expired()}, "expired"},
		{"not yet valid", ca, []certs.Option{certs.NotYetValid()}, "not yet valid"},
		{"another CA", other, nil, "unknown authority"},
		{"no client auth usage", ca, []certs.Option{certs.WithoutClientAuth()}, "incompatible key usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kp, err := tt.issuer.IssueClient("thing-1", tt.opts...)
			require.NoError(t, err)
			require.Equal(t, "thing-1", kp.Cert.Subject.CommonName)
			err = verifyClient(ca, kp)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestRSAKeyUsage(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	kp, err := ca.IssueClient("rsa-thing", certs.WithKeyType(certs.RSA2048))
	require.NoError(t, err)
	require.IsType(t, &rsa.PrivateKey{}, kp.Key)
	require.NotZero(t, kp.Cert.KeyUsage&x509.KeyUsageKeyEncipherment)

	ec, err := ca.IssueClient("ec-thing")
	require.NoError(t, err)
	require.Zero(t, ec.Cert.KeyUsage&x509.KeyUsageKeyEncipherment)
}

func TestIssueClientRejectsEmptyName(t *testing.T) {
	t.Parallel()
	_, err := newCA(t).IssueClient("")
	require.ErrorContains(t, err, "empty thing name")
}

func TestWithModify(t *testing.T) {
	t.Parallel()
	kp, err := newCA(t).IssueClient("thing", certs.WithModify(func(c *x509.Certificate) {
		c.Subject.Organization = []string{"acme"}
	}))
	require.NoError(t, err)
	require.Equal(t, []string{"acme"}, kp.Cert.Subject.Organization)
}

func TestWriteAndLoadDeviceFiles(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	dev, err := ca.IssueClient("basicPubSub")
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "kit")

	files, err := certs.WriteDeviceFiles(dir, "basicPubSub", ca, dev)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "root-CA.crt"), files.RootCA)
	require.Equal(t, filepath.Join(dir, "basicPubSub.cert.pem"), files.Cert)
	require.Equal(t, filepath.Join(dir, "basicPubSub.private.key"), files.PrivateKey)
	require.Equal(t, filepath.Join(dir, "basicPubSub.public.key"), files.PublicKey)

	info, err := os.Stat(files.PrivateKey)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	pool, kp, err := certs.LoadDeviceFiles(files)
	require.NoError(t, err)
	require.True(t, kp.Cert.Equal(dev.Cert))
	_, err = kp.Cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)
}

func TestLoadErrorsNameTheProblem(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	a, err := ca.IssueClient("a")
	require.NoError(t, err)
	b, err := ca.IssueClient("b")
	require.NoError(t, err)
	dir := t.TempDir()
	fa, err := certs.WriteDeviceFiles(dir, "a", ca, a)
	require.NoError(t, err)
	fb, err := certs.WriteDeviceFiles(dir, "b", ca, b)
	require.NoError(t, err)
	garbage := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not pem"), 0o600))
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name       string
		cert, key  string
		wantSubstr []string
	}{
		{"missing cert", missing, fa.PrivateKey, []string{"read certificate file", "missing.pem", "no such file"}},
		{"missing key", fa.Cert, missing, []string{"read private key file", "missing.pem"}},
		{"garbage cert", garbage, fa.PrivateKey, []string{"no PEM CERTIFICATE block", "garbage.pem"}},
		{"garbage key", fa.Cert, garbage, []string{"no PEM private key block", "garbage.pem"}},
		{"mismatched", fa.Cert, fb.PrivateKey, []string{"private key does not match public key", "a.cert.pem", "b.private.key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := certs.LoadKeyPair(tt.cert, tt.key)
			require.Error(t, err)
			for _, s := range tt.wantSubstr {
				require.ErrorContains(t, err, s)
			}
		})
	}

	_, err = certs.LoadCertPool(garbage)
	require.ErrorContains(t, err, "no PEM CERTIFICATE block")
	_, err = certs.LoadCertPool(missing)
	require.ErrorContains(t, err, "read root CA file")
}

// TestMutualTLSHandshake proves the generated material works for a real mutual
// TLS handshake, and that each negative option makes the server refuse.
func TestMutualTLSHandshake(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	other := newCA(t)
	srv, err := ca.IssueServer(nil)
	require.NoError(t, err)

	tests := []struct {
		name   string
		issuer *certs.CA
		opts   []certs.Option
		ok     bool
	}{
		{"valid ECDSA", ca, nil, true},
		{"valid RSA", ca, []certs.Option{certs.WithKeyType(certs.RSA2048)}, true},
		{"expired", ca, []certs.Option{certs.Expired()}, false},
		{"other CA", other, nil, false},
		{"no client auth", ca, []certs.Option{certs.WithoutClientAuth()}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, err := tt.issuer.IssueClient("thing")
			require.NoError(t, err)
			if len(tt.opts) > 0 {
				dev, err = tt.issuer.IssueClient("thing", tt.opts...)
				require.NoError(t, err)
			}
			serverErr, clientErr := handshake(t,
				&tls.Config{Certificates: []tls.Certificate{srv.TLSCertificate()}, ClientCAs: ca.CertPool(), ClientAuth: tls.RequireAndVerifyClientCert},
				&tls.Config{Certificates: []tls.Certificate{dev.TLSCertificate()}, RootCAs: ca.CertPool(), ServerName: "localhost"})
			if tt.ok {
				require.NoError(t, serverErr)
				require.NoError(t, clientErr)
			} else {
				require.Error(t, serverErr)
			}
		})
	}
}

func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) (serverErr, clientErr error) {
	t.Helper()
	c1, c2 := net.Pipe()
	t.Cleanup(func() { c1.Close(); c2.Close() })
	done := make(chan error, 1)
	go func() {
		s := tls.Server(c1, serverCfg)
		err := s.Handshake()
		if err == nil {
			// TLS 1.3 clients learn of a refusal on their first read.
			_, err = s.Write([]byte{1})
		}
		c1.Close()
		done <- err
	}()
	c := tls.Client(c2, clientCfg)
	clientErr = c.Handshake()
	if clientErr == nil {
		_, clientErr = c.Read(make([]byte, 1))
	}
	c2.Close()
	return <-done, clientErr
}

func BenchmarkPKI(b *testing.B) {
	for b.Loop() {
		ca, err := certs.NewCA()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ca.IssueServer(nil); err != nil {
			b.Fatal(err)
		}
		if _, err := ca.IssueClient("thing"); err != nil {
			b.Fatal(err)
		}
	}
}
