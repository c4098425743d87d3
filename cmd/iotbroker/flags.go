package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iotmqtt/iotmqtt/internal/samples"
)

// Defaults: AWS IoT's mutual-TLS port on loopback, the control API beside
// it, the kit in the working directory.
const (
	defaultMTLS    = "127.0.0.1:8883"
	defaultControl = "127.0.0.1:9883"
	defaultDir     = "iotbroker-kit"
	defaultThing   = "basicPubSub"
)

// thingName is what AWS IoT accepts as a thing name; it also keeps the
// kit's file names inside --dir.
var thingName = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)

// options are iotbroker's flags.
type options struct {
	dir     string
	things  []string
	hosts   []string // extra names and addresses for the server certificate
	profile string
	shadow  bool // the Device Shadow service

	connectInterval time.Duration // AWS's connect throttle per client id
	set             []string      // Field=value changes to the AWS profile

	mtls, alpn, wss, tcp string // listen addresses; "" leaves a listener off (mtls always runs)
	control              string

	wsKeyID, wsSecret string // SigV4 credentials the wss listener accepts
	customAuth        string // password of the custom authorizer on the ALPN listener

	verbose bool // every event on stderr, not only connections and faults
}

// listFlag is a comma-separated list that may be given more than once.
type listFlag struct{ p *[]string }

func (l listFlag) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l listFlag) Set(s string) error {
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l.p = append(*l.p, item)
		}
	}
	return nil
}

// setFlag collects --set Field=value, once per flag.
type setFlag struct{ p *[]string }

func (f setFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strings.Join(*f.p, " ")
}

func (f setFlag) Set(s string) error {
	*f.p = append(*f.p, s)
	return nil
}

// parseFlags parses and checks the command line; environment variables
// fill in the WebSocket credentials.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("iotbroker", flag.ContinueOnError)
	fs.StringVar(&o.dir, "dir", defaultDir, "directory of the device kit (root-CA.crt, <thing>.cert.pem, <thing>.private.key); kept after exit, its CA reused")
	fs.Var(listFlag{&o.things}, "thing", "thing names to issue device files for, comma-separated (default "+defaultThing+")")
	fs.Var(listFlag{&o.hosts}, "host", "extra host names or addresses for the server certificate, comma-separated (e.g. abc123-ats.iot.us-east-1.amazonaws.com; map it to 127.0.0.1 in /etc/hosts)")
	fs.StringVar(&o.profile, "profile", defaultProfile, "broker behaviour: aws (AWS IoT Core's limits and answers) or mqtt (a plain MQTT broker)")
	fs.DurationVar(&o.connectInterval, "connect-interval", defaultConnectInterval, connectIntervalDoc)
	fs.Var(setFlag{&o.set}, "set", setDoc)
	fs.BoolVar(&o.shadow, "shadow", true, "the Device Shadow service on $aws/things/<thing>/shadow/... (--shadow=false: shadow topics are ordinary topics)")
	fs.StringVar(&o.mtls, "mtls", defaultMTLS, "address of mutual-TLS MQTT (AWS IoT's 8883)")
	fs.StringVar(&o.alpn, "alpn", "", "address of mutual TLS with ALPN x-amzn-mqtt-ca (AWS IoT's 443, e.g. 127.0.0.1:443); off if empty")
	fs.StringVar(&o.wss, "wss", "", "address of MQTT over WebSocket with SigV4 on /mqtt (AWS IoT's 443, e.g. 127.0.0.1:8443); off if empty")
	fs.StringVar(&o.tcp, "tcp", "", "address of plain MQTT without TLS (e.g. 127.0.0.1:1883); off if empty")
	fs.StringVar(&o.control, "control", defaultControl, "address of the HTTP control API and live page (loopback only)")
	fs.StringVar(&o.wsKeyID, "ws-access-key-id", "", "access key id the WebSocket listener accepts (default $AWS_ACCESS_KEY_ID)")
	fs.StringVar(&o.wsSecret, "ws-secret-access-key", "", "its secret access key (default $AWS_SECRET_ACCESS_KEY)")
	fs.StringVar(&o.customAuth, "custom-auth-password", "", "with --alpn: also accept clients without a certificate that negotiate ALPN mqtt and send this MQTT password (AWS's custom authorizer)")
	fs.BoolVar(&o.verbose, "v", false, "log every event on stderr (default: connections, disconnections and faults)")
	err := samples.Parse(fs, args, stderr, "iotbroker [--dir DIR] [--thing NAME,...] [--host NAME,...] [--profile aws|mqtt] [--set Field=value ...] [--mtls ADDR] [--alpn ADDR] [--wss ADDR] [--tcp ADDR] [--control ADDR] [-v]",
		o.complete)
	if err != nil {
		return nil, err
	}
	return o, nil
}

// complete fills in the defaults that depend on other flags and the
// environment, then returns what is wrong with the options, or "".
func (o *options) complete() string {
	if len(o.things) == 0 {
		o.things = []string{defaultThing}
	}
	if o.wss != "" {
		o.wsKeyID = cmp.Or(o.wsKeyID, os.Getenv("AWS_ACCESS_KEY_ID"))
		o.wsSecret = cmp.Or(o.wsSecret, os.Getenv("AWS_SECRET_ACCESS_KEY"))
	}
	if err := o.check(); err != nil {
		return err.Error()
	}
	return ""
}

// check says what is wrong with the options, if anything.
func (o *options) check() error {
	if o.dir == "" {
		return errors.New("--dir must not be empty")
	}
	for _, t := range o.things {
		if !thingName.MatchString(t) {
			return fmt.Errorf("--thing %q: a thing name is 1-128 letters, digits, ':', '_' or '-'", t)
		}
	}
	for _, h := range o.hosts {
		if strings.ContainsAny(h, "/: ") && net.ParseIP(h) == nil {
			return fmt.Errorf("--host %q: give a bare host name or address, without scheme or port", h)
		}
	}
	if !slices.Contains(profileNames(), o.profile) {
		return fmt.Errorf("--profile %q: the profiles are %s", o.profile, strings.Join(profileNames(), ", "))
	}
	if o.connectInterval < 0 {
		return fmt.Errorf("--connect-interval %v must not be negative", o.connectInterval)
	}
	if o.connectInterval != defaultConnectInterval && o.profile != profileAWS {
		return fmt.Errorf("--connect-interval is AWS IoT Core's connect throttle: it needs --profile %s", profileAWS)
	}
	if len(o.set) > 0 && o.profile != profileAWS {
		return fmt.Errorf("--set changes the AWS IoT Core profile: it needs --profile %s", profileAWS)
	}
	if _, err := awsProfile(o); err != nil {
		return err
	}
	seen := map[string]string{}
	for _, a := range []struct{ flag, addr string }{{"--mtls", o.mtls}, {"--alpn", o.alpn}, {"--wss", o.wss}, {"--tcp", o.tcp}, {"--control", o.control}} {
		if a.addr == "" {
			if a.flag == "--mtls" || a.flag == "--control" {
				return fmt.Errorf("%s must not be empty", a.flag)
			}
			continue
		}
		if err := checkAddr(a.addr); err != nil {
			return fmt.Errorf("%s %q: %v", a.flag, a.addr, err)
		}
		if other, ok := seen[a.addr]; ok && !strings.HasSuffix(a.addr, ":0") {
			return fmt.Errorf("%s and %s both ask for %s: one port serves one listener", other, a.flag, a.addr)
		}
		seen[a.addr] = a.flag
	}
	if !isLoopback(o.control) {
		return fmt.Errorf("--control %q: the control API has no authentication, so it listens on loopback only (127.0.0.1, ::1 or localhost)", o.control)
	}
	if o.wss != "" && (o.wsKeyID == "" || o.wsSecret == "") {
		return errors.New("--wss needs the credentials it accepts: --ws-access-key-id and --ws-secret-access-key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment (any values will do)")
	}
	if o.customAuth != "" && o.alpn == "" {
		return errors.New("--custom-auth-password needs --alpn (AWS's custom authorizer runs on 443 with ALPN mqtt)")
	}
	return nil
}

// checkAddr checks a host:port listen address.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not host:port: %v", err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// isLoopback says whether a listen address stays on this machine.
func isLoopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
