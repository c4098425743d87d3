package main

import (
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/iotmqtt/iotmqtt/certs"
)

// kitValidity is how long the kit's CA and device certificates are valid:
// long enough that a device configured once keeps working across restarts.
const kitValidity = 10 * 365 * 24 * time.Hour

// kit is the device kit in --dir: a root CA kept across runs and each
// thing's files, named as in the kit AWS IoT hands to a device.
type kit struct {
	dir       string // absolute
	ca        *certs.CA
	caCreated bool

	mu     sync.Mutex // guards things, and writes into dir
	things map[string]thing
}

// thing is one device's files in the kit.
type thing struct {
	Name       string    `json:"name"`
	Cert       string    `json:"cert"`
	PrivateKey string    `json:"private_key"`
	PublicKey  string    `json:"public_key"`
	NotAfter   time.Time `json:"not_after"`
	// Reused says the files were already there, issued by the kit's CA.
	Reused bool `json:"reused"`
}

// openKit loads the CA saved in dir, or makes and saves a new one.
func openKit(dir string) (*kit, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("kit: %w", err)
	}
	ca, created, err := certs.LoadOrNewCA(abs, certs.WithValidity(kitValidity), certs.WithCommonName("iotbroker root CA"))
	if err != nil {
		return nil, err
	}
	return &kit{dir: abs, ca: ca, caCreated: created, things: make(map[string]thing)}, nil
}

// rootCA is the path of the root CA certificate devices trust.
func (k *kit) rootCA() string { return filepath.Join(k.dir, certs.RootCAFile) }

// issue returns a thing's files: those already in the kit if the kit's CA
// issued them and they are valid, otherwise a fresh certificate and key.
// reason says why files that were there were replaced.
func (k *kit) issue(name string) (t thing, reason string, err error) {
	if !thingName.MatchString(name) {
		return thing{}, "", fmt.Errorf("thing name %q: a thing name is 1-128 letters, digits, ':', '_' or '-'", name)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	files := certs.DeviceFiles{
		RootCA:     k.rootCA(),
		Cert:       filepath.Join(k.dir, name+".cert.pem"),
		PrivateKey: filepath.Join(k.dir, name+".private.key"),
		PublicKey:  filepath.Join(k.dir, name+".public.key"),
	}
	if _, err := os.Stat(files.Cert); !errors.Is(err, fs.ErrNotExist) {
		kp, err := certs.LoadKeyPair(files.Cert, files.PrivateKey)
		if err == nil {
			err = k.verify(kp.Cert)
		}
		if err == nil {
			t = thing{Name: name, Cert: files.Cert, PrivateKey: files.PrivateKey, PublicKey: files.PublicKey, NotAfter: kp.Cert.NotAfter, Reused: true}
			k.things[name] = t
			return t, "", nil
		}
		reason = err.Error()
	}
	device, err := k.ca.IssueClient(name, certs.WithValidityPeriod(time.Now().Add(-time.Minute), k.ca.Cert.NotAfter))
	if err != nil {
		return thing{}, "", err
	}
	if files, err = certs.WriteDeviceFiles(k.dir, name, k.ca, device); err != nil {
		return thing{}, "", err
	}
	t = thing{Name: name, Cert: files.Cert, PrivateKey: files.PrivateKey, PublicKey: files.PublicKey, NotAfter: device.Cert.NotAfter}
	k.things[name] = t
	return t, reason, nil
}

// verify checks that the kit's CA issued a device certificate valid now.
func (k *kit) verify(cert *x509.Certificate) error {
	_, err := cert.Verify(x509.VerifyOptions{Roots: k.ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return fmt.Errorf("not a valid device certificate of this kit's CA: %w", err)
	}
	return nil
}

// list returns the things issued or reused in this run, by name.
func (k *kit) list() []thing {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.SortedFunc(maps.Values(k.things), func(a, b thing) int { return cmp.Compare(a.Name, b.Name) })
}
