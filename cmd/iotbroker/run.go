package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/iotmqtt/iotmqtt/broker"
)

// shutdownTimeout bounds how long the control API waits for its requests
// when iotbroker stops.
const shutdownTimeout = 5 * time.Second

// run is iotbroker: it opens the kit, starts the broker and the control
// API, prints the ready line, and stops cleanly when ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "iotbroker: ", log.Ltime|log.Lmicroseconds)
	k, err := openKit(o.dir)
	if err != nil {
		return err
	}
	for _, name := range o.things {
		_, reason, err := k.issue(name)
		if err != nil {
			return err
		}
		if reason != "" {
			logger.Printf("reissued %s: %s", name, reason)
		}
	}
	b, err := broker.StartTLS(brokerOptions(o, k, stderr)...)
	if err != nil {
		return explainListen(err)
	}
	defer b.Close()

	ln, err := net.Listen("tcp", o.control)
	if err != nil {
		return explainListen(fmt.Errorf("control API: %w", err))
	}
	controlURL := "http://" + ln.Addr().String()
	ctrl := &control{b: b, kit: k, clients: newClientTracker(b.Events), started: time.Now(),
		info: func() readyInfo { return newReadyInfo(o, b, k, controlURL) }}

	line, err := json.Marshal(ctrl.info())
	if err != nil {
		return err
	}

	// Requests' contexts derive from base, which ends first on shutdown,
	// so event streams end and Shutdown need not wait for them.
	base, stopRequests := context.WithCancel(context.Background())
	defer stopRequests()
	srv := &http.Server{
		Handler: ctrl.routes(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return base },
		ErrorLog:    logger,
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) }) // returns on Shutdown
	following, stopFollowing := context.WithCancel(context.Background())
	defer stopFollowing()
	wg.Go(func() {
		_ = follow(following, b.Events, broker.Match{}, func(e broker.Event) error {
			if o.verbose || worthLogging(e) {
				logger.Print(e.String())
			}
			return nil
		}, func(from, to uint64) error {
			logger.Printf("events #%d to #%d were discarded before they were logged", from, to)
			return nil
		})
	})

	describe(logger, o, ctrl.info()) // before the ready line: a program that reads it finds the logs complete
	fmt.Fprintf(stdout, "%s\n", line)

	<-ctx.Done()
	logger.Print("stopping")
	stopRequests()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	errShutdown := srv.Shutdown(sctx)
	stopFollowing()
	wg.Wait()
	if err := errors.Join(errShutdown, b.Close()); err != nil {
		return err
	}
	logger.Printf("stopped; the kit stays in %s", k.dir)
	return nil
}

// brokerOptions turns the flags into the broker's options.
func brokerOptions(o *options, k *kit, stderr io.Writer) []broker.Option {
	opts := []broker.Option{
		broker.WithCA(k.ca), broker.WithHosts(serverHosts(o)...), broker.WithThingName(o.things[0]),
		broker.WithLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
		broker.WithListenAddr(broker.ListenerMTLS, o.mtls),
	}
	if o.alpn != "" {
		opts = append(opts, broker.WithALPN(), broker.WithListenAddr(broker.ListenerALPN, o.alpn))
	}
	if o.customAuth != "" {
		password := o.customAuth
		opts = append(opts, broker.WithCustomAuthorizer(func(_, p string) bool { return p == password }))
	}
	if o.wss != "" {
		opts = append(opts, broker.WithWebSocket(map[string]string{o.wsKeyID: o.wsSecret}), broker.WithListenAddr(broker.ListenerWSS, o.wss))
	}
	if o.tcp != "" {
		opts = append(opts, broker.WithPlainTCP(), broker.WithListenAddr(broker.ListenerTCP, o.tcp))
	}
	return append(opts, profileOptions(o)...)
}

// explainListen adds what to do about a port below 1024.
func explainListen(err error) error {
	if errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%w (ports below 1024 need root, or: sudo setcap cap_net_bind_service=+ep on the iotbroker binary)", err)
	}
	return err
}

// worthLogging says whether an event is logged without -v: connections
// coming and going, refusals and faults, not every message.
func worthLogging(e broker.Event) bool {
	switch e.Kind {
	case broker.KindConnect, broker.KindDisconnect, broker.KindTLSFailure, broker.KindDropped:
		return true
	case broker.KindConnack:
		return e.ReturnCode != 0
	case broker.KindUpgrade:
		return e.HTTPStatus != http.StatusSwitchingProtocols
	case broker.KindFault:
		return e.Topic == "" // a switch or an action, not each packet a switch hit
	}
	return false
}

// describe says on stderr, for people, what is running and how to use it.
func describe(logger *log.Logger, o *options, info readyInfo) {
	shadow := map[bool]string{true: "on", false: "off"}[info.Shadow]
	logger.Printf("profile %s, shadow service %s; device kit in %s (CA %s)", info.Profile, shadow, info.Kit.Dir, map[bool]string{true: "created", false: "reused"}[info.Kit.CACreated])
	for _, name := range []string{broker.ListenerMTLS, broker.ListenerALPN, broker.ListenerWSS, broker.ListenerTCP} {
		if e, ok := info.Endpoints[name]; ok {
			logger.Printf("%-4s %s (listening on %s; %s)", name, e.URL, e.Addr, e.Auth)
		}
	}
	for _, t := range info.Kit.Things {
		logger.Printf("thing %s: --rootCA %s --cert %s --key %s", t.Name, info.Kit.RootCA, t.Cert, t.PrivateKey)
	}
	if len(o.hosts) > 0 {
		logger.Printf("the server certificate also covers %s; map names to this machine with: echo '127.0.0.1 %s' | sudo tee -a /etc/hosts",
			strings.Join(o.hosts, ", "), strings.Join(names(o.hosts), " "))
	}
	logger.Printf("control API and live page: %s (curl %s/health)", info.Control, info.Control)
}

// names keeps the host names of a list of names and addresses.
func names(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		if net.ParseIP(h) == nil {
			out = append(out, h)
		}
	}
	return out
}
