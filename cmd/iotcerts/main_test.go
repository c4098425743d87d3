package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/certs"
)

func TestWritesAUsablePKI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run([]string{"-dir", dir, "-thing", "dev1"}, &out))
	require.Contains(t, out.String(), filepath.Join(dir, "dev1.cert.pem"))
	for _, f := range []string{"root-CA.key", "server.private.key", "dev1.private.key"} {
		info, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), f)
	}
	pool, kp, err := certs.LoadDeviceFiles(certs.DeviceFiles{
		RootCA: filepath.Join(dir, "root-CA.crt"), Cert: filepath.Join(dir, "dev1.cert.pem"), PrivateKey: filepath.Join(dir, "dev1.private.key"),
	})
	require.NoError(t, err)
	require.Equal(t, "dev1", kp.Cert.Subject.CommonName)
	srv, err := certs.LoadKeyPair(filepath.Join(dir, "server.cert.pem"), filepath.Join(dir, "server.private.key"))
	require.NoError(t, err)
	require.Equal(t, []string{"localhost"}, srv.Cert.DNSNames)
	_ = pool
}

func TestBadFlag(t *testing.T) {
	t.Parallel()
	require.Error(t, run([]string{"-nope"}, &bytes.Buffer{}))
}
