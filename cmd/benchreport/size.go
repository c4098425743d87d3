package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// sizeProbes are the two smallest mutual-TLS publishers make bench builds:
// one on package client, one on raw paho.
var sizeProbes = [2]string{"./bench/size/iotmqtt", "./bench/size/paho"}

// maxSizeOverPaho is the target: what package client may add to a minimal
// mutual-TLS program.
const maxSizeOverPaho = 2 << 20

// binarySize builds the two probes with the go command and compares their
// sizes: what a program that uses mutual TLS only pays for package client.
func binarySize() ([]row, error) {
	dir, err := os.MkdirTemp("", "iotmqtt-size-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	var sizes [2]int64
	for i, pkg := range sizeProbes {
		out := filepath.Join(dir, fmt.Sprint(i))
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
		}
		st, err := os.Stat(out)
		if err != nil {
			return nil, err
		}
		sizes[i] = st.Size()
	}
	more := sizes[0] - sizes[1]
	const sec = "Binary size of a minimal mutual-TLS publisher (go build, bench/size)"
	return []row{
		{section: sec, name: "on package client", value: mib(sizes[0])},
		{section: sec, name: "on raw paho", value: mib(sizes[1])},
		{section: sec, name: "difference", value: "+" + mib(more), target: "≤ +2 MiB", pass: ptr(more <= maxSizeOverPaho)},
	}, nil
}

func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

// moduleRoot is the directory of the module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("benchreport: run it inside the iotmqtt module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}
