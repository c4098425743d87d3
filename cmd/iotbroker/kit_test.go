package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/certs"
)

func TestKitKeepsItsCAAndDevices(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "kit")
	k, err := openKit(dir)
	require.NoError(t, err)
	require.True(t, k.caCreated)
	first, reason, err := k.issue("dev-1")
	require.NoError(t, err)
	require.Empty(t, reason)
	require.False(t, first.Reused)
	require.Equal(t, filepath.Join(k.dir, "dev-1.cert.pem"), first.Cert)
	require.Equal(t, filepath.Join(k.dir, "dev-1.private.key"), first.PrivateKey)
	require.Equal(t, k.ca.Cert.NotAfter, first.NotAfter, "the device lasts as long as the CA")
	certPEM, err := os.ReadFile(first.Cert)
	require.NoError(t, err)

	again, err := openKit(dir)
	require.NoError(t, err)
	require.False(t, again.caCreated)
	require.Equal(t, k.ca.Cert.Raw, again.ca.Cert.Raw)
	same, reason, err := again.issue("dev-1")
	require.NoError(t, err)
	require.Empty(t, reason)
	require.True(t, same.Reused)
	after, err := os.ReadFile(same.Cert)
	require.NoError(t, err)
	require.Equal(t, certPEM, after, "the device's files are left as they were")
}

func TestKitReplacesWhatItsCADidNotIssue(t *testing.T) {
	t.Parallel()
	k, err := openKit(t.TempDir())
	require.NoError(t, err)
	other, err := certs.NewCA()
	require.NoError(t, err)
	foreign, err := other.IssueClient("dev-2")
	require.NoError(t, err)
	_, err = certs.WriteDeviceFiles(k.dir, "dev-2", other, foreign)
	require.NoError(t, err)
	require.NoError(t, certs.SaveCA(k.dir, k.ca), "WriteDeviceFiles wrote the other CA's root-CA.crt")

	th, reason, err := k.issue("dev-2")
	require.NoError(t, err)
	require.Contains(t, reason, "not a valid device certificate of this kit's CA")
	require.False(t, th.Reused)
	kp, err := certs.LoadKeyPair(th.Cert, th.PrivateKey)
	require.NoError(t, err)
	require.NoError(t, k.verify(kp.Cert))

	require.NoError(t, os.Remove(th.PrivateKey))
	th, reason, err = k.issue("dev-2")
	require.NoError(t, err)
	require.Contains(t, reason, "read private key file", "a certificate without its key is replaced, and said so")
	require.FileExists(t, th.PrivateKey)

	_, _, err = k.issue("../escape")
	require.ErrorContains(t, err, `thing name "../escape"`)
}
