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

// loadCredentials reads the root CA, key and certificate (files, or PEM
// bytes when no file is given) into a mutual-TLS configuration that trusts
// only that CA.
func (c *Config) loadCredentials() (*tls.Config, error) {
	const method = "ConfigureCredentials"
	read := func(setting, path string, inMemory []byte) ([]byte, error) {
		if path == "" {
			if len(inMemory) == 0 {
				return nil, &ConfigError{Setting: setting, Method: method,
					Reason: "is missing: mutual TLS needs the root CA, the private key and the certificate"}
			}
			return inMemory, nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, &ConfigError{Setting: setting, Method: method, Reason: fmt.Sprintf("%q cannot be read: %v", path, err)}
		}
		return data, nil
	}
	caPEM, err := read("CAFile", c.CAFile, c.CAPEM)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, &ConfigError{Setting: "CAFile", Method: method, Reason: describe(c.CAFile, "holds no PEM certificate")}
	}
	t := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	noKeyPair := c.KeyFile == "" && c.CertFile == "" && len(c.KeyPEM) == 0 && len(c.CertPEM) == 0
	if noKeyPair && !c.needsClientCertificate() {
		return t, nil
	}
	keyPEM, err := read("KeyFile", c.KeyFile, c.KeyPEM)
	if err != nil {
		return nil, err
	}
	certPEM, err := read("CertFile", c.CertFile, c.CertPEM)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, &ConfigError{Setting: "KeyFile/CertFile", Method: method,
			Reason: fmt.Sprintf("%s and %s are not a usable key pair: %v", describe(c.KeyFile, "the key"), describe(c.CertFile, "the certificate"), err)}
	}
	t.Certificates = []tls.Certificate{pair}
	return t, nil
}

// describe names a file, or says what is meant when the input was in memory.
func describe(path, what string) string {
	if path == "" {
		return "(in memory) " + what
	}
	return quote(path) + " " + what
}
