// Package cli is what the project's commands share: running until Ctrl-C
// or SIGTERM, reading flags, and how a command-line error reads and exits.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// ErrUsage marks a command-line error: the command exits with status 2
// (as Python's argparse does).
var ErrUsage = errors.New("usage error")

// RunFunc is a command: it runs with its arguments until ctx ends.
type RunFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Main runs a command with the process's arguments and streams, its
// context ending on SIGINT or SIGTERM, and exits with ExitCode's status,
// printing any other error as "prog: error".
func Main(prog string, run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	code := ExitCode(err)
	if code == 1 {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
	}
	os.Exit(code)
}

// ExitCode is a command's exit status for what its run returned: 0 for
// success or -h, 2 for a usage error, 1 otherwise.
func ExitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	default:
		return 1
	}
}

// Parse parses args with fs, which takes no positional arguments. It
// returns flag.ErrHelp for -h, or a usage error naming what is wrong.
func Parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return UsageError(stderr, fs.Name(), "unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return nil
}

// UsageError prints "prog: error: message" on stderr and returns it as an
// error wrapping ErrUsage.
func UsageError(stderr io.Writer, prog, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(stderr, "%s: error: %s\n", prog, msg)
	return fmt.Errorf("%w: %s", ErrUsage, msg)
}
