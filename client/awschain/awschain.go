// Package awschain gives a WebSocket client the AWS SDK's default
// credential chain, the Python SDK's fallback when configureIAMCredentials
// is not called:
//
//	cfg.UseWebsocket = true
//	cfg.Credentials = awschain.Provider()
//	cfg.ConfigureIAMCredentials(id, secret, token) // optional: non-empty ones win, empty ones keep the chain
//
// It lives apart from package client so that a program using mutual TLS
// only does not link the SDK's configuration loader and service clients
// (SSO, STS, instance metadata).
package awschain

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// Provider returns credentials from the AWS default chain: environment
// variables, the shared config and credentials files and their profiles,
// SSO, web identity, container and EC2 instance roles. The chain is loaded
// when credentials are first needed (at the first WebSocket connection
// attempt), and its credentials are cached and refreshed by the SDK; a
// load that fails is tried again at the next attempt.
func Provider() aws.CredentialsProvider { return &chain{} }

type chain struct {
	mu    sync.Mutex // guards creds
	creds aws.CredentialsProvider
}

// Retrieve loads the chain if needed and returns its credentials.
func (c *chain) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c.mu.Lock()
	creds := c.creds
	if creds == nil {
		loaded, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			c.mu.Unlock()
			return aws.Credentials{}, fmt.Errorf("awschain: loading the AWS configuration: %w", err)
		}
		if loaded.Credentials == nil {
			c.mu.Unlock()
			return aws.Credentials{}, fmt.Errorf("awschain: the AWS configuration has no credentials")
		}
		c.creds, creds = loaded.Credentials, loaded.Credentials
	}
	c.mu.Unlock()
	return creds.Retrieve(ctx)
}
