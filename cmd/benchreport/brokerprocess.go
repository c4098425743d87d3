package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// brokerProcessEnv, set to a thing name, makes this program serve the
// embedded broker in a process of its own instead of measuring
// (serveBrokerProcess): the broker end of the judged throughput
// comparison. A device meets its broker across a process boundary (on AWS,
// across the network), not inside its own Go runtime, where the broker's
// goroutines would share the device's scheduler and cores.
const brokerProcessEnv = "IOTMQTT_BENCHREPORT_BROKER"

// brokerProcessStart bounds how long the broker process may take to say
// where it listens, and to exit once told to stop.
const brokerProcessStart = 30 * time.Second

// brokerProcess is the embedded broker running in a child process.
type brokerProcess struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser // closing it stops the broker
	exited   chan error
	endpoint testenv.Endpoint
}

// startBrokerProcess starts this program again as the broker of thing,
// measuring-quiet (no message recording, AWS's rate limits lifted), and
// returns once it listens.
func startBrokerProcess(thing string) (*brokerProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("broker process: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), brokerProcessEnv+"="+thing)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("broker process: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("broker process: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("broker process: %w", err)
	}
	p := &brokerProcess{cmd: cmd, stdin: stdin, exited: make(chan error, 1)}
	ready := make(chan error, 1)
	go func() {
		ready <- json.NewDecoder(stdout).Decode(&p.endpoint)
		io.Copy(io.Discard, stdout) // until it exits: Wait may then close the pipe
		p.exited <- cmd.Wait()
	}()
	select {
	case err = <-ready:
		if errors.Is(err, io.EOF) {
			err = errors.New("it exited before saying where it listens (its error is on stderr)")
		}
	case <-time.After(brokerProcessStart):
		err = fmt.Errorf("it did not say where it listens within %v", brokerProcessStart)
	}
	if err != nil {
		p.kill()
		return nil, fmt.Errorf("broker process %d: %w", cmd.Process.Pid, err)
	}
	return p, nil
}

// stop tells the broker process to stop and waits for it to exit; one that
// does not within brokerProcessStart is killed.
func (p *brokerProcess) stop() error {
	p.stdin.Close()
	select {
	case err := <-p.exited:
		if err != nil {
			return fmt.Errorf("broker process %d: %w", p.cmd.Process.Pid, err)
		}
		return nil
	case <-time.After(brokerProcessStart):
		p.kill()
		return fmt.Errorf("broker process %d did not stop within %v: killed", p.cmd.Process.Pid, brokerProcessStart)
	}
}

// kill ends the broker process by its PID and waits for it.
func (p *brokerProcess) kill() {
	p.stdin.Close()
	p.cmd.Process.Kill()
	<-p.exited
}

// serveIfBrokerProcess, in a process started as the broker process, serves
// the broker and exits; in any other it returns at once.
func serveIfBrokerProcess() {
	thing, ok := os.LookupEnv(brokerProcessEnv)
	if !ok {
		return
	}
	if err := serveBrokerProcess(thing, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport broker process:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// serveBrokerProcess is the broker process: it starts the embedded broker
// of thing, writes its endpoint as one JSON line on stdout, and serves
// until stdin ends (the measuring process closed it, or died).
func serveBrokerProcess(thing string, stdin io.Reader, stdout io.Writer) error {
	if thing == "" {
		return errors.New(brokerProcessEnv + " must name the thing")
	}
	b, err := broker.StartTLS(embeddedOptions(thing, true)...)
	if err != nil {
		return err
	}
	defer b.Close()
	// Clients reach the broker's own listener, not the fault proxy in
	// front of it: the measuring process puts its proxy there, as for any
	// external endpoint. They name the host the certificate covers, and
	// send it as SNI, as on AWS.
	_, port, err := net.SplitHostPort(b.MTLS().Proxy.Upstream())
	if err != nil {
		return err
	}
	ep := testenv.Endpoint{Host: b.MTLS().Host, RootCA: b.ClientFiles().RootCA, Cert: b.ClientFiles().Cert, Key: b.ClientFiles().PrivateKey}
	if ep.Port, err = strconv.Atoi(port); err != nil {
		return err
	}
	if err := json.NewEncoder(stdout).Encode(ep); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, stdin)
	return err
}
