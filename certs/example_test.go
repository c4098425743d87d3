package certs_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/iotmqtt/iotmqtt/certs"
)

// Generate a CA and a device certificate and write them as AWS's device kit
// names them.
func Example() {
	ca, err := certs.NewCA()
	if err != nil {
		panic(err)
	}
	device, err := ca.IssueClient("basicPubSub")
	if err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "kit")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	files, err := certs.WriteDeviceFiles(dir, "basicPubSub", ca, device)
	if err != nil {
		panic(err)
	}
	for _, f := range []string{files.RootCA, files.Cert, files.PrivateKey, files.PublicKey} {
		info, _ := os.Stat(f)
		fmt.Println(filepath.Base(f), info.Mode().Perm())
	}
	// Output:
	// root-CA.crt -rw-r--r--
	// basicPubSub.cert.pem -rw-r--r--
	// basicPubSub.private.key -rw-------
	// basicPubSub.public.key -rw-r--r--
}

// Keep a CA in a directory, so that devices issued by it keep working when a
// local broker starts again.
func ExampleLoadOrNewCA() {
	dir, err := os.MkdirTemp("", "kit")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	first, created, err := certs.LoadOrNewCA(dir, certs.WithValidity(365*24*time.Hour))
	if err != nil {
		panic(err)
	}
	fmt.Println("created:", created)
	again, created, err := certs.LoadOrNewCA(dir)
	if err != nil {
		panic(err)
	}
	fmt.Println("created:", created, "same CA:", bytes.Equal(first.Cert.Raw, again.Cert.Raw))
	// Output:
	// created: true
	// created: false same CA: true
}
