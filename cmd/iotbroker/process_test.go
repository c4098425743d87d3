package main

import (
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// iotbroker as a process: the ready line on stdout, logs on stderr, a clean
// stop on SIGINT and SIGTERM, and a kit that the next start reuses.
func TestProcessStopsCleanlyAndKeepsTheKit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startProcess(t, "--dir", dir, "--thing", "kept", "--tcp", "127.0.0.1:0", "--alpn", "127.0.0.1:0")
	require.True(t, p.info.Ready)
	require.Equal(t, p.cmd.Process.Pid, p.info.PID)
	require.True(t, p.info.Kit.CACreated)
	require.Equal(t, []string{"alpn", "mtls", "tcp"}, keys(p.info.Endpoints))
	for name, e := range p.info.Endpoints {
		require.NotZero(t, e.Port, "%s: the real port, not :0", name)
		require.Equal(t, "localhost", e.Host)
	}
	require.Equal(t, []string{"x-amzn-mqtt-ca"}, p.info.Endpoints["alpn"].ALPN)
	th := p.info.Kit.Things[0]
	certPEM, err := os.ReadFile(th.Cert)
	require.NoError(t, err)
	ib := &p.iotbroker
	ib.device(t, "kept", th).Disconnect(t.Context())
	p.stop(t, syscall.SIGINT)
	require.Contains(t, p.proc.stderr.String(), "stopped; the kit stays in "+dir)

	again := startProcess(t, "--dir", dir, "--thing", "kept")
	require.False(t, again.info.Kit.CACreated, "the CA is reused")
	require.True(t, again.info.Kit.Things[0].Reused)
	after, err := os.ReadFile(again.info.Kit.Things[0].Cert)
	require.NoError(t, err)
	require.Equal(t, certPEM, after)
	again.device(t, "kept-again", th) // the files of the first run still work
	again.stop(t, syscall.SIGTERM)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
