package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

func TestPageFilesAreServed(t *testing.T) {
	t.Parallel()
	ib := startInProcess(t)
	for path, want := range map[string]string{
		"/":                 "<title>iotbroker</title>",
		"/static/app.js":    "new EventSource(",
		"/static/style.css": "svg#timeline",
	} {
		resp, err := http.Get(ib.info.Control + path)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, string(body), want, path)
	}
}

// The live page in a real headless browser (Debian's chromium): it loads,
// shows a connected client, and a cut pressed on the page shows the
// client's disconnect and its reconnect, in the events and on the
// timeline.
func TestLivePageInABrowser(t *testing.T) {
	t.Parallel()
	browser := findChromium(t)
	ib := startInProcess(t)
	device := ib.device(t, "page-device", ib.info.Kit.Things[0])

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox, // root in CI
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc() // stops chromium
	browserCtx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancel()
	require.NoError(t, chromedp.Do(browserCtx), "start chromium") // its first run owns the browser: no timeout on it
	ctx, cancelTimeout := context.WithTimeout(browserCtx, 2*testenv.Timeout)
	defer cancelTimeout()

	css := func(format string, args ...any) chromedp.CSS { return chromedp.CSS(fmt.Sprintf(format, args...)) }
	const clientRow = `#clients tr[data-client="page-device"]`
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(ib.info.Control),
		chromedp.WaitVisible(css(`#status.live`)),
		chromedp.WaitVisible(chromedp.CSS(clientRow)),
	), "the page shows the connected client")

	mark := ib.latest(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(css(`%s button[data-action="cut-client"][data-mode="fin"]`, clientRow))))
	cut := ib.waitEvent(t, mark, "kind=FAULT&fault=cut", nil)
	require.Equal(t, "page-device", cut.ClientID, "the page's button cut that client")
	gone := ib.waitEvent(t, cut.Seq, "kind=DISCONNECT&client=page-device", nil)
	back := ib.waitEvent(t, gone.Seq, "kind=CONNACK&client=page-device", nil)
	testenv.WaitStatus(t, device, client.StatusStable)

	const row = `#events tr[data-kind="%s"][data-seq="%d"]`
	const onTimeline = `#timeline [data-kind="%s"][data-seq="%d"]`
	require.NoError(t, chromedp.Do(ctx,
		chromedp.WaitVisible(css(row, "FAULT", cut.Seq)),
		chromedp.WaitVisible(css(row, "DISCONNECT", gone.Seq)),
		chromedp.WaitVisible(css(row, "CONNACK", back.Seq)),
		chromedp.WaitReady(css(onTimeline, "FAULT", cut.Seq)),
		chromedp.WaitReady(css(onTimeline, "DISCONNECT", gone.Seq)),
		chromedp.WaitReady(css(`#timeline [data-lane="page-device"]`)),
		chromedp.WaitVisible(chromedp.CSS(clientRow)),
	), "the page shows the cut, the disconnect and the reconnect")
	connectedAt, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(clientRow+" td:nth-child(4)")))
	require.NoError(t, err)
	require.NotEmpty(t, connectedAt, "the client is listed again, with its new connection's time")

	first := ib.waitEvent(t, 0, "kind=CONNECT&client=page-device", nil)
	again := ib.waitEvent(t, gone.Seq, "kind=CONNECT&client=page-device", nil)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.WaitReady(css(onTimeline, "CONNECT", first.Seq)),
		chromedp.WaitReady(css(onTimeline, "CONNECT", again.Seq)),
	), "both connections on the timeline")

	if dir := os.Getenv("IOTBROKER_SCREENSHOT_DIR"); dir != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "iotbroker-page.png"), png, 0o644))
	}
}

// findChromium returns Debian's chromium (or another Chrome).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if _, err := exec.LookPath(name); err == nil {
			return testenv.RequireTool(t, name, "Debian: apt-get install chromium")
		}
	}
	return testenv.RequireTool(t, "chromium", "Debian: apt-get install chromium")
}
