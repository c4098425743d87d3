package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// sigv4Service is the service name AWS IoT documents for presigned
// WebSocket URLs.
const sigv4Service = "iotdevicegateway"

// emptyPayloadHash is the SHA-256 of an empty body.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// presignExpiry is the validity the Python SDK gives its presigned URLs.
const presignExpiry = "86400"

// awsEndpoint matches AWS IoT data endpoints, China's included, and
// captures the region: abc123-ats.iot.eu-west-1.amazonaws.com,
// data.iot.us-east-1.amazonaws.com, x.iot.cn-north-1.amazonaws.com.cn.
var awsEndpoint = regexp.MustCompile(`(?i)^[0-9a-z-]+(?:\.ats)?\.iot(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$`)

// regionFromEndpoint returns the AWS region in an AWS IoT endpoint's name,
// or "".
func regionFromEndpoint(host string) string {
	m := awsEndpoint.FindStringSubmatch(host)
	if m == nil {
		return ""
	}
	return strings.ToLower(m[1])
}

// presigner makes a fresh SigV4-presigned wss URL for every connection
// attempt, with credentials that may rotate.
type presigner struct {
	creds  aws.CredentialsProvider
	host   string // as in the URL and the Host header: with the port unless 443
	region string
	signer *v4.Signer
}

// newPresigner signs with the configured credentials (validate made sure
// there are some).
func newPresigner(cfg *Config) *presigner {
	p := &presigner{creds: cfg.Credentials, host: cfg.Host, region: cfg.Region, signer: v4.NewSigner()}
	if cfg.Port != 443 {
		p.host = fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
	}
	if p.region == "" {
		p.region = regionFromEndpoint(cfg.Host)
	}
	return p
}

// url returns a wss URL for /mqtt signed now; the session token is appended
// after signing, as AWS IoT requires.
func (p *presigner) url(ctx context.Context, now time.Time) (string, error) {
	c, err := p.creds.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("no AWS credentials for WebSocket SigV4 (Config.Credentials): %w", err)
	}
	return p.sign(ctx, c, sigv4Service, now)
}

func (p *presigner) sign(ctx context.Context, c aws.Credentials, service string, now time.Time) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+p.host+"/mqtt?X-Amz-Expires="+presignExpiry, nil)
	if err != nil {
		return "", fmt.Errorf("presign: %w", err)
	}
	signed, _, err := p.signer.PresignHTTP(ctx, c, req, emptyPayloadHash, service, p.region, now,
		func(o *v4.SignerOptions) { o.DisableSessionToken = true })
	if err != nil {
		return "", fmt.Errorf("presign: %w", err)
	}
	u := "wss" + strings.TrimPrefix(signed, "https")
	if c.SessionToken != "" {
		u += "&X-Amz-Security-Token=" + url.QueryEscape(c.SessionToken)
	}
	return u, nil
}
