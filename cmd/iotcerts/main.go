// Command iotcerts writes a test PKI for mutual TLS as files: a root CA, a
// server certificate and a device certificate named as in AWS IoT's device
// kit. Use it to run a local broker (mosquitto, say) that the integration
// suite or the basicpubsub sample can be pointed at.
//
//	go run ./cmd/iotcerts -dir pki -thing basicPubSub -hosts localhost,127.0.0.1
//
// writes pki/root-CA.crt, pki/root-CA.key, pki/server.cert.pem,
// pki/server.private.key, pki/basicPubSub.cert.pem,
// pki/basicPubSub.private.key and pki/basicPubSub.public.key. Private keys
// are written with mode 0600.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/iotmqtt/iotmqtt/certs"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "iotcerts:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("iotcerts", flag.ContinueOnError)
	dir := fs.String("dir", "pki", "directory to write the files into")
	thing := fs.String("thing", "basicPubSub", "thing name: the device certificate's common name and file prefix")
	hosts := fs.String("hosts", "localhost,127.0.0.1", "comma-separated names and addresses of the server certificate")
	validity := fs.Duration("validity", certs.DefaultValidity, "how long the certificates are valid")
	rsa := fs.Bool("rsa", false, "use RSA-2048 keys instead of ECDSA P-256")
	if err := fs.Parse(args); err != nil {
		return err
	}
	keyType := certs.ECDSAP256
	if *rsa {
		keyType = certs.RSA2048
	}
	opts := []certs.Option{certs.WithKeyType(keyType), certs.WithValidity(*validity)}
	ca, err := certs.NewCA(opts...)
	if err != nil {
		return err
	}
	server, err := ca.IssueServer(strings.Split(*hosts, ","), opts...)
	if err != nil {
		return err
	}
	device, err := ca.IssueClient(*thing, opts...)
	if err != nil {
		return err
	}
	files, err := certs.WriteDeviceFiles(*dir, *thing, ca, device)
	if err != nil {
		return err
	}
	extra := []struct {
		name string
		data []byte
	}{
		{certs.RootCAKeyFile, ca.KeyPEM},
		{"server.cert.pem", server.CertPEM},
		{"server.private.key", server.KeyPEM},
	}
	for _, f := range extra {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(f.name, ".key") {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(*dir, f.name), f.data, mode); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	fmt.Fprintf(stdout, "root CA:            %s (key %s)\n", files.RootCA, filepath.Join(*dir, certs.RootCAKeyFile))
	fmt.Fprintf(stdout, "server certificate: %s (key %s) for %s\n", filepath.Join(*dir, "server.cert.pem"), filepath.Join(*dir, "server.private.key"), *hosts)
	fmt.Fprintf(stdout, "device certificate: %s (key %s)\n", files.Cert, files.PrivateKey)
	fmt.Fprintf(stdout, "valid until %s\n", device.Cert.NotAfter.Format(time.RFC3339))
	return nil
}
