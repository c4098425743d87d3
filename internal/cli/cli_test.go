package cli_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/internal/cli"
)

func TestExitCode(t *testing.T) {
	require.Equal(t, 0, cli.ExitCode(nil))
	require.Equal(t, 0, cli.ExitCode(flag.ErrHelp))
	require.Equal(t, 2, cli.ExitCode(fmt.Errorf("%w: bad flag", cli.ErrUsage)))
	require.Equal(t, 1, cli.ExitCode(errors.New("broker did not start")))
}

func TestParse(t *testing.T) {
	newFlags := func() *flag.FlagSet {
		fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
		fs.SetOutput(&bytes.Buffer{})
		fs.Int("n", 0, "a number")
		return fs
	}
	var stderr bytes.Buffer
	require.NoError(t, cli.Parse(newFlags(), []string{"-n", "3"}, &stderr))
	require.ErrorIs(t, cli.Parse(newFlags(), []string{"-h"}, &stderr), flag.ErrHelp)

	err := cli.Parse(newFlags(), []string{"-m"}, &stderr)
	require.ErrorIs(t, err, cli.ErrUsage)
	require.ErrorContains(t, err, "flag provided but not defined: -m")

	err = cli.Parse(newFlags(), []string{"-n", "1", "extra", "args"}, &stderr)
	require.ErrorIs(t, err, cli.ErrUsage)
	require.ErrorContains(t, err, "unexpected arguments: extra args")
	require.Equal(t, "cmd: error: unexpected arguments: extra args\n", stderr.String())
}
