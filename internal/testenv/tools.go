package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// RequireInterop is the environment variable that makes a test needing an
// outside tool (mosquitto_sub, node, chromium…) fail, not skip, when the
// tool is missing: CI sets it, so an interop test cannot pass by not
// running.
const RequireInterop = "IOTMQTT_REQUIRE_INTEROP"

// RequireTool returns the path of the program name. If it is not
// installed, the test is skipped, saying what to install, or fails when
// RequireInterop is set to 1.
func RequireTool(tb testing.TB, name, install string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv(RequireInterop) == "1" {
		tb.Fatalf("testenv: %s is not installed (%s), and %s=1 requires it: %v", name, install, RequireInterop, err)
	}
	tb.Skipf("testenv: %s is not installed (%s); skipped (set %s=1 to fail instead)", name, install, RequireInterop)
	return ""
}
