package broker

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// emptyPayloadHash is the SHA-256 of an empty body, as presigned URLs use.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// sigv4Services are the service names AWS IoT accepts in a presigned URL;
// AWS's SDKs use both.
var sigv4Services = map[string]bool{"iotdevicegateway": true, "iotdata": true}

// defaultPresignExpiry is how long a presigned URL without X-Amz-Expires
// stays valid.
const defaultPresignExpiry = 15 * time.Minute

// clockSkew is how far in the future a signature's date may be.
const clockSkew = 5 * time.Minute

// verifyPresigned checks the SigV4 query signature of a WebSocket upgrade
// request as AWS IoT does: the session token, if any, is not part of the
// signature. secrets maps access key ids to secret keys.
func verifyPresigned(r *http.Request, secrets map[string]string, now time.Time) error {
	q := r.URL.Query()
	if alg := q.Get("X-Amz-Algorithm"); alg != "AWS4-HMAC-SHA256" {
		return fmt.Errorf("unsupported X-Amz-Algorithm %q", alg)
	}
	scope := strings.Split(q.Get("X-Amz-Credential"), "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return fmt.Errorf("malformed X-Amz-Credential %q", q.Get("X-Amz-Credential"))
	}
	keyID, region, service := scope[0], scope[2], scope[3]
	if !sigv4Services[service] {
		return fmt.Errorf("service %q is not iotdevicegateway or iotdata", service)
	}
	secret, ok := secrets[keyID]
	if !ok {
		return fmt.Errorf("unknown access key id %q", keyID)
	}
	signedAt, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("malformed X-Amz-Date: %v", err)
	}
	if scope[1] != signedAt.Format("20060102") {
		return errors.New("credential scope date does not match X-Amz-Date")
	}
	expiry := defaultPresignExpiry
	if e := q.Get("X-Amz-Expires"); e != "" {
		secs, err := strconv.Atoi(e)
		if err != nil || secs <= 0 {
			return fmt.Errorf("malformed X-Amz-Expires %q", e)
		}
		expiry = time.Duration(secs) * time.Second
	}
	switch {
	case now.After(signedAt.Add(expiry)):
		return fmt.Errorf("signature expired at %s", signedAt.Add(expiry).Format(time.RFC3339))
	case signedAt.After(now.Add(clockSkew)):
		return errors.New("signature date is in the future")
	}
	if q.Get("X-Amz-SignedHeaders") != "host" {
		return fmt.Errorf("X-Amz-SignedHeaders must be host, got %q", q.Get("X-Amz-SignedHeaders"))
	}
	got := q.Get("X-Amz-Signature")

	// Sign the same request again and compare: everything but the
	// signature, the unsigned session token, and the fields the signer adds
	// itself.
	unsigned := url.Values{}
	for k, vs := range q {
		switch k {
		case "X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders":
			continue
		}
		unsigned[k] = vs
	}
	req, err := http.NewRequest(http.MethodGet, "https://"+r.Host+r.URL.EscapedPath()+"?"+unsigned.Encode(), nil)
	if err != nil {
		return fmt.Errorf("rebuild request: %v", err)
	}
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret},
		req, emptyPayloadHash, service, region, signedAt, func(o *v4.SignerOptions) { o.DisableSessionToken = true })
	if err != nil {
		return fmt.Errorf("sign: %v", err)
	}
	u, err := url.Parse(signed)
	if err != nil {
		return fmt.Errorf("sign: %v", err)
	}
	if !hmac.Equal([]byte(got), []byte(u.Query().Get("X-Amz-Signature"))) {
		return errors.New("signature does not match")
	}
	return nil
}
