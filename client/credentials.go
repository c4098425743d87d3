package client

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// buildTLS loads and checks the credentials and returns the TLS
// configuration every connection uses.
func (c *Config) buildTLS() (*tls.Config, error) {
	var t *tls.Config
	if c.TLSConfig != nil {
		t = c.TLSConfig.Clone()
	} else {
		var err error
		if t, err = c.loadCredentials(); err != nil {
			return nil, err
		}
	}
	if t.ServerName == "" {
		t.ServerName = c.Host
	}
	if c.Port == 443 && !c.UseWebsocket && len(t.NextProtos) == 0 {
		t.NextProtos = []string{alpnMQTTCA}
		if len(t.Certificates) == 0 && t.GetClientCertificate == nil {
			t.NextProtos = []string{alpnMQTT} // custom authorizer
		}
	}
	return t, nil
}

// needsClientCertificate says whether this configuration authenticates with
// a client certificate (mutual TLS), rather than a SigV4 signature
// (WebSocket) or a custom authorizer (user name on port 443).
func (c *Config) needsClientCertificate() bool {
	return !c.UseWebsocket && !(c.Port == 443 && c.Username != "")
}

// credential is one PEM input: a file, or bytes in memory.
type credential struct {
	field string // the file's Config field
	path  string
	pem   []byte
	what  string // "the root CA", …
}

// read returns the PEM, naming what is missing or unreadable.
func (cr credential) read() ([]byte, error) {
	if cr.path == "" && len(cr.pem) == 0 {
		return nil, invalid(cr.field, "is missing: mutual TLS needs the root CA, the private key and the certificate")
	}
	if cr.path == "" {
		return cr.pem, nil
	}
	data, err := os.ReadFile(cr.path)
	if err != nil {
		e := invalid(cr.field, fmt.Sprintf("%q cannot be read: %v", cr.path, err)).(*ConfigError)
		e.Err = err
		return nil, e
	}
	return data, nil
}

// String names the input in errors.
func (cr credential) String() string {
	if cr.path == "" {
		return "(in memory) " + cr.what
	}
	return quote(cr.path) + " " + cr.what
}

// loadCredentials reads the root CA, key and certificate (files, or PEM
// bytes; validate made sure there is one source) into a mutual-TLS
// configuration that trusts only that CA.
func (c *Config) loadCredentials() (*tls.Config, error) {
	ca := credential{"CAFile", c.CAFile, c.CAPEM, "the root CA"}
	key := credential{"KeyFile", c.KeyFile, c.KeyPEM, "the key"}
	cert := credential{"CertFile", c.CertFile, c.CertPEM, "the certificate"}
	caPEM, err := ca.read()
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, invalid("CAFile", ca.String()+" holds no PEM certificate")
	}
	t := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	noKeyPair := key.path == "" && cert.path == "" && len(key.pem) == 0 && len(cert.pem) == 0
	if noKeyPair && !c.needsClientCertificate() {
		return t, nil
	}
	keyPEM, err := key.read()
	if err != nil {
		return nil, err
	}
	certPEM, err := cert.read()
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, invalid("CertFile", fmt.Sprintf("%s and %s are not a usable key pair: %v", cert, key, err))
	}
	t.Certificates = []tls.Certificate{pair}
	return t, nil
}
