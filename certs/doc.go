// Package certs generates the public-key infrastructure that an AWS IoT device
// and its broker use for mutual TLS: a certificate authority, a server
// certificate and client (device) certificates, written as files the way AWS
// hands them to a device.
//
// Keys are ECDSA P-256 by default (fast to generate, cheap to handshake);
// RSA-2048, the key type of many real AWS IoT device certificates, is an option.
// Certificates are short-lived by default. Options produce the negative cases
// that tests need: expired or not-yet-valid certificates, and client
// certificates without the client-authentication usage. A certificate "issued
// by another CA" is simply one issued by a second NewCA.
//
// Nothing here is meant to be checked in: generate fresh material per run.
package certs
