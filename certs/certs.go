package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// KeyType selects the algorithm of a generated key.
type KeyType int

const (
	// ECDSAP256 is an ECDSA key on the NIST P-256 curve (the default).
	ECDSAP256 KeyType = iota
	// RSA2048 is a 2048-bit RSA key, as in many AWS IoT device certificates.
	// Generating one takes tens of milliseconds.
	RSA2048
)

// String names the key type.
func (k KeyType) String() string {
	switch k {
	case ECDSAP256:
		return "ECDSA-P256"
	case RSA2048:
		return "RSA-2048"
	default:
		return fmt.Sprintf("KeyType(%d)", int(k))
	}
}

// DefaultValidity is how long generated certificates are valid from now.
const DefaultValidity = 24 * time.Hour

// clockSkew is how far in the past NotBefore is set, so that a peer whose
// clock runs slightly behind still accepts a fresh certificate.
const clockSkew = time.Minute

// options collects what Option values set.
type options struct {
	keyType      KeyType
	commonName   string
	notBefore    time.Time
	notAfter     time.Time
	noClientAuth bool
	modify       func(*x509.Certificate)
}

// Option adjusts a certificate being generated.
type Option func(*options)

// WithKeyType selects the key algorithm (default ECDSAP256).
func WithKeyType(k KeyType) Option { return func(o *options) { o.keyType = k } }

// WithCommonName sets the subject common name. For a client certificate the
// default is the thing name; for a CA it is "iotmqtt test CA"; for a server
// certificate it is the first host.
func WithCommonName(cn string) Option { return func(o *options) { o.commonName = cn } }

// WithValidity makes the certificate valid for d from now (default
// DefaultValidity). A negative d gives a certificate that has already expired.
func WithValidity(d time.Duration) Option {
	return func(o *options) {
		now := time.Now()
		if d < 0 {
			o.notBefore, o.notAfter = now.Add(2*d), now.Add(d)
			return
		}
		o.notBefore, o.notAfter = now.Add(-clockSkew), now.Add(d)
	}
}

// WithValidityPeriod sets NotBefore and NotAfter exactly.
func WithValidityPeriod(notBefore, notAfter time.Time) Option {
	return func(o *options) { o.notBefore, o.notAfter = notBefore, notAfter }
}

// Expired makes a certificate whose validity ended an hour ago.
func Expired() Option { return WithValidity(-time.Hour) }

// NotYetValid makes a certificate whose validity starts in an hour.
func NotYetValid() Option {
	return func(o *options) {
		now := time.Now()
		o.notBefore, o.notAfter = now.Add(time.Hour), now.Add(time.Hour+DefaultValidity)
	}
}

// WithoutClientAuth issues a client certificate that lacks the
// client-authentication extended key usage (only server authentication), which
// a mutual-TLS server must refuse.
func WithoutClientAuth() Option { return func(o *options) { o.noClientAuth = true } }

// WithModify lets the caller change the certificate template just before it is
// signed: the escape hatch for cases the other options do not cover.
func WithModify(fn func(*x509.Certificate)) Option { return func(o *options) { o.modify = fn } }

func buildOptions(defaultCN string, opts []Option) options {
	now := time.Now()
	o := options{
		keyType:    ECDSAP256,
		commonName: defaultCN,
		notBefore:  now.Add(-clockSkew),
		notAfter:   now.Add(DefaultValidity),
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// KeyPair is a certificate with its private key, in parsed and PEM form.
type KeyPair struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte // PKCS#8
}

// TLSCertificate returns the pair as a tls.Certificate with Leaf set.
func (kp *KeyPair) TLSCertificate() tls.Certificate {
	return tls.Certificate{
		Certificate: [][]byte{kp.Cert.Raw},
		PrivateKey:  kp.Key,
		Leaf:        kp.Cert,
	}
}

// PublicKeyPEM returns the PEM-encoded public key (the "<name>.public.key"
// file of AWS's downloads).
func (kp *KeyPair) PublicKeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(kp.Key.Public())
	if err != nil {
		return nil, fmt.Errorf("certs: marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// CA is a certificate authority that issues server and client certificates.
type CA struct {
	KeyPair
}

// NewCA generates a self-signed certificate authority.
func NewCA(opts ...Option) (*CA, error) {
	o := buildOptions("iotmqtt test CA", opts)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: o.commonName, Organization: []string{"iotmqtt"}},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	kp, err := sign(tmpl, o, nil)
	if err != nil {
		return nil, fmt.Errorf("certs: new CA %q: %w", o.commonName, err)
	}
	return &CA{KeyPair: *kp}, nil
}

// CertPool returns a pool holding only this CA.
func (ca *CA) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// IssueServer issues a server certificate for the given hosts; IP addresses go
// into the IP SANs, names into the DNS SANs. With no hosts it covers
// "localhost" and 127.0.0.1.
func (ca *CA) IssueServer(hosts []string, opts ...Option) (*KeyPair, error) {
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1"}
	}
	o := buildOptions(hosts[0], opts)
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: o.commonName, Organization: []string{"iotmqtt"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	kp, err := sign(tmpl, o, ca)
	if err != nil {
		return nil, fmt.Errorf("certs: issue server certificate for %v: %w", hosts, err)
	}
	return kp, nil
}

// IssueClient issues a device certificate whose common name is the thing name.
func (ca *CA) IssueClient(thingName string, opts ...Option) (*KeyPair, error) {
	if thingName == "" {
		return nil, errors.New("certs: issue client certificate: empty thing name")
	}
	o := buildOptions(thingName, opts)
	usage := x509.ExtKeyUsageClientAuth
	if o.noClientAuth {
		usage = x509.ExtKeyUsageServerAuth
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: o.commonName},
		ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	kp, err := sign(tmpl, o, ca)
	if err != nil {
		return nil, fmt.Errorf("certs: issue client certificate %q: %w", thingName, err)
	}
	return kp, nil
}

// sign generates a key, completes tmpl and signs it with parent (self-signed
// when parent is nil).
func sign(tmpl *x509.Certificate, o options, parent *CA) (*KeyPair, error) {
	key, err := generateKey(o.keyType)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = o.notBefore, o.notAfter
	tmpl.KeyUsage |= x509.KeyUsageDigitalSignature
	if _, isRSA := key.(*rsa.PrivateKey); isRSA {
		// RSA key exchange (TLS 1.2 without ECDHE) encrypts with the key.
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	if o.modify != nil {
		o.modify(tmpl)
	}
	signerCert, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse signed certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return &KeyPair{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func generateKey(k KeyType) (crypto.Signer, error) {
	switch k {
	case ECDSAP256:
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate %s key: %w", k, err)
		}
		return key, nil
	case RSA2048:
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("generate %s key: %w", k, err)
		}
		return key, nil
	default:
		return nil, fmt.Errorf("unknown key type %v", k)
	}
}
