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
	}
	return t, nil
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
	keyPEM, err := read("KeyFile", c.KeyFile, c.KeyPEM)
	if err != nil {
		return nil, err
	}
	certPEM, err := read("CertFile", c.CertFile, c.CertPEM)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, &ConfigError{Setting: "CAFile", Method: method, Reason: describe(c.CAFile, "holds no PEM certificate")}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, &ConfigError{Setting: "KeyFile/CertFile", Method: method,
			Reason: fmt.Sprintf("%s and %s are not a usable key pair: %v", describe(c.KeyFile, "the key"), describe(c.CertFile, "the certificate"), err)}
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// describe names a file, or says what is meant when the input was in memory.
func describe(path, what string) string {
	if path == "" {
		return "(in memory) " + what
	}
	return quote(path) + " " + what
}
