package certs

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// RootCAFile is the name AWS's device kit gives the root CA certificate.
const RootCAFile = "root-CA.crt"

// DeviceFiles are the paths of a device's credential files, named as in the
// kit AWS IoT hands to a device: root-CA.crt, <name>.cert.pem,
// <name>.private.key and <name>.public.key.
type DeviceFiles struct {
	RootCA     string
	Cert       string
	PrivateKey string
	PublicKey  string
}

// WriteDeviceFiles writes the CA certificate and the device's certificate and
// keys into dir (created if missing). The private key is written with mode 0600.
func WriteDeviceFiles(dir, name string, ca *CA, device *KeyPair) (DeviceFiles, error) {
	if name == "" {
		return DeviceFiles{}, errors.New("certs: write device files: empty name")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return DeviceFiles{}, fmt.Errorf("certs: write device files: %w", err)
	}
	pub, err := device.PublicKeyPEM()
	if err != nil {
		return DeviceFiles{}, err
	}
	f := DeviceFiles{
		RootCA:     filepath.Join(dir, RootCAFile),
		Cert:       filepath.Join(dir, name+".cert.pem"),
		PrivateKey: filepath.Join(dir, name+".private.key"),
		PublicKey:  filepath.Join(dir, name+".public.key"),
	}
	writes := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{f.RootCA, ca.CertPEM, 0o644},
		{f.Cert, device.CertPEM, 0o644},
		{f.PrivateKey, device.KeyPEM, 0o600},
		{f.PublicKey, pub, 0o644},
	}
	for _, w := range writes {
		if err := os.WriteFile(w.path, w.data, w.mode); err != nil {
			return DeviceFiles{}, fmt.Errorf("certs: write device files: %w", err)
		}
	}
	return f, nil
}

// LoadDeviceFiles reads back what WriteDeviceFiles wrote.
func LoadDeviceFiles(f DeviceFiles) (*x509.CertPool, *KeyPair, error) {
	pool, err := LoadCertPool(f.RootCA)
	if err != nil {
		return nil, nil, err
	}
	kp, err := LoadKeyPair(f.Cert, f.PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	return pool, kp, nil
}

// LoadKeyPair reads a PEM certificate and its PEM private key (PKCS#8, PKCS#1
// or SEC 1) and checks that they belong together.
func LoadKeyPair(certFile, keyFile string) (*KeyPair, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("certs: read certificate file: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("certs: read private key file: %w", err)
	}
	kp, err := ParseKeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w (certificate %s, key %s)", err, certFile, keyFile)
	}
	return kp, nil
}

// ParseKeyPair parses a PEM certificate and PEM private key held in memory and
// checks that they belong together.
func ParseKeyPair(certPEM, keyPEM []byte) (*KeyPair, error) {
	cert, err := ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil || !isKeyBlock(block.Type) {
		return nil, errors.New("certs: private key: no PEM private key block found")
	}
	tc, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: certificate and private key: %w", err)
	}
	signer, ok := tc.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("certs: private key type %T cannot sign", tc.PrivateKey)
	}
	return &KeyPair{Cert: cert, Key: signer, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

func isKeyBlock(t string) bool {
	return t == "PRIVATE KEY" || t == "RSA PRIVATE KEY" || t == "EC PRIVATE KEY"
}

// ParseCertificatePEM parses the first certificate of a PEM bundle.
func ParseCertificatePEM(data []byte) (*x509.Certificate, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("certs: certificate: no PEM CERTIFICATE block found")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certs: certificate: %w", err)
		}
		return cert, nil
	}
}

// LoadCertPool reads a PEM file of one or more CA certificates into a pool
// that holds only them.
func LoadCertPool(caFile string) (*x509.CertPool, error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("certs: read root CA file: %w", err)
	}
	pool, err := ParseCertPool(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, caFile)
	}
	return pool, nil
}

// ParseCertPool parses PEM CA certificates held in memory into a pool.
func ParseCertPool(caPEM []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("certs: root CA: no PEM CERTIFICATE block found")
	}
	return pool, nil
}
