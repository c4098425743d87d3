package certs_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/certs"
)

func TestLoadOrNewCAReusesTheSavedCA(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "kit")
	first, created, err := certs.LoadOrNewCA(dir, certs.WithValidity(48*time.Hour))
	require.NoError(t, err)
	require.True(t, created)
	info, err := os.Stat(filepath.Join(dir, certs.RootCAKeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the CA key is private")

	device, err := first.IssueClient("thing")
	require.NoError(t, err)

	again, created, err := certs.LoadOrNewCA(dir)
	require.NoError(t, err)
	require.False(t, created, "the saved CA is reused")
	require.Equal(t, first.Cert.Raw, again.Cert.Raw)
	require.NoError(t, verifyClient(again, device), "a device issued before still verifies")
	later, err := again.IssueClient("thing-2")
	require.NoError(t, err)
	require.NoError(t, verifyClient(first, later), "the reloaded CA signs with the same key")
}

func TestLoadOrNewCARefusesHalfACA(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	cases := map[string]func(dir string){
		"certificate without key": func(dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, certs.RootCAFile), ca.CertPEM, 0o644))
		},
		"key without certificate": func(dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, certs.RootCAKeyFile), ca.KeyPEM, 0o600))
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			setup(dir)
			before, err := os.ReadDir(dir)
			require.NoError(t, err)
			_, _, err = certs.LoadOrNewCA(dir)
			require.ErrorContains(t, err, "move it away to start a new CA")
			after, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Equal(t, len(before), len(after), "nothing written")
		})
	}
}

func TestLoadCARefusesWhatIsNotAValidCA(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	device, err := ca.IssueClient("thing")
	require.NoError(t, err)
	expired := newCA(t, certs.Expired())
	cases := map[string]struct {
		kp   certs.KeyPair
		want string
	}{
		"not a CA":  {*device, "is not a CA certificate"},
		"expired":   {expired.KeyPair, "expired at"},
		"other key": {certs.KeyPair{CertPEM: ca.CertPEM, KeyPEM: device.KeyPEM}, "private key does not match"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, certs.RootCAFile), filepath.Join(dir, certs.RootCAKeyFile)
			require.NoError(t, os.WriteFile(certFile, c.kp.CertPEM, 0o644))
			require.NoError(t, os.WriteFile(keyFile, c.kp.KeyPEM, 0o600))
			_, err := certs.LoadCA(certFile, keyFile)
			require.ErrorContains(t, err, c.want)
			_, _, err = certs.LoadOrNewCA(dir)
			require.ErrorContains(t, err, c.want, "LoadOrNewCA does not replace a bad CA")
		})
	}
}
