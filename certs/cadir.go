package certs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// RootCAKeyFile is the name of the root CA's private key, kept beside
// RootCAFile by SaveCA (AWS never hands it out; a local broker needs it to
// issue more certificates).
const RootCAKeyFile = "root-CA.key"

// LoadCA reads a CA certificate and its private key, as SaveCA wrote them,
// and checks that the certificate is a CA valid now.
func LoadCA(certFile, keyFile string) (*CA, error) {
	kp, err := LoadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	switch now := time.Now(); {
	case !kp.Cert.IsCA:
		return nil, fmt.Errorf("certs: %s is not a CA certificate", certFile)
	case now.After(kp.Cert.NotAfter):
		return nil, fmt.Errorf("certs: CA certificate %s expired at %s", certFile, kp.Cert.NotAfter.Format(time.RFC3339))
	case now.Before(kp.Cert.NotBefore):
		return nil, fmt.Errorf("certs: CA certificate %s is not valid before %s", certFile, kp.Cert.NotBefore.Format(time.RFC3339))
	}
	return &CA{KeyPair: *kp}, nil
}

// SaveCA writes the CA's certificate (RootCAFile) and private key
// (RootCAKeyFile, mode 0600) into dir, created if missing.
func SaveCA(dir string, ca *CA) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("certs: save CA: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, RootCAKeyFile), ca.KeyPEM, 0o600); err != nil {
		return fmt.Errorf("certs: save CA: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, RootCAFile), ca.CertPEM, 0o644); err != nil {
		return fmt.Errorf("certs: save CA: %w", err)
	}
	return nil
}

// LoadOrNewCA returns the CA that SaveCA saved in dir, so that certificates
// it issued before keep working; if dir holds neither of its files, it makes
// a new CA with opts and saves it there. created says which happened. A dir
// with only one of the two files, or with files LoadCA refuses, is an error
// naming the file: nothing is overwritten.
func LoadOrNewCA(dir string, opts ...Option) (ca *CA, created bool, err error) {
	certFile, keyFile := filepath.Join(dir, RootCAFile), filepath.Join(dir, RootCAKeyFile)
	certThere, err := exists(certFile)
	if err != nil {
		return nil, false, err
	}
	keyThere, err := exists(keyFile)
	if err != nil {
		return nil, false, err
	}
	switch {
	case certThere && keyThere:
		ca, err := LoadCA(certFile, keyFile)
		return ca, false, err
	case certThere:
		return nil, false, fmt.Errorf("certs: %s has no private key beside it (%s): cannot issue certificates with it; move it away to start a new CA", certFile, RootCAKeyFile)
	case keyThere:
		return nil, false, fmt.Errorf("certs: %s has no certificate beside it (%s); move it away to start a new CA", keyFile, RootCAFile)
	}
	if ca, err = NewCA(opts...); err != nil {
		return nil, false, err
	}
	if err := SaveCA(dir, ca); err != nil {
		return nil, false, err
	}
	return ca, true, nil
}

// exists says whether a file is there.
func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("certs: %w", err)
	}
	return true, nil
}
