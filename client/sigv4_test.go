package client

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/require"
)

func TestRegionFromEndpoint(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"abc123-ats.iot.eu-west-1.amazonaws.com":    "eu-west-1",
		"abc123.ats.iot.us-east-2.amazonaws.com":    "us-east-2",
		"data.iot.us-east-1.amazonaws.com":          "us-east-1",
		"blablabla.iot.cn-north-1.amazonaws.com.cn": "cn-north-1",
		"ABC-ATS.IOT.AP-SOUTHEAST-2.AMAZONAWS.COM":  "ap-southeast-2",
		"data.iot-fips.us-gov-west-1.amazonaws.com": "us-gov-west-1",
		"ThisIsNotAValidIoTEndpoint!":               "",
		"localhost":                                 "",
		"iot.eu-west-1.example.com":                 "",
	}
	for host, want := range tests {
		require.Equal(t, want, regionFromEndpoint(host), host)
	}
}

// The Python SDK's SigV4 test vector (test_sigv4_core.py), signed by
// aws-sdk-go-v2 the way the client signs, with the Python SDK's service name.
func TestPresignMatchesThePythonVector(t *testing.T) {
	t.Parallel()
	p := &presigner{host: "data.iot.us-east-1.amazonaws.com", region: "us-east-1", signer: v4.NewSigner()}
	at := time.Date(2017, 6, 28, 20, 48, 45, 0, time.UTC)
	creds := aws.Credentials{AccessKeyID: "TRUSTMETHISIDISFAKE0", SecretAccessKey: "trustMeThisSecretKeyIsSoFakeAaBbCc00Dd11"}
	want := "wss://data.iot.us-east-1.amazonaws.com/mqtt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=TRUSTMETHISIDISFAKE0%2F20170628%2Fus-east-1%2Fiotdata%2Faws4_request&X-Amz-Date=20170628T204845Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=b79a4d7e31ccbf96b22d93cce1b500b9ee611ec966159547e140ae32e4dcebed"
	got, err := p.sign(context.Background(), creds, "iotdata", at)
	require.NoError(t, err)
	require.Equal(t, want, got)

	// The token is appended after signing: the signature is unchanged.
	creds.SessionToken = "AQoDYXdz+EXAMPLE/token="
	got, err = p.sign(context.Background(), creds, "iotdata", at)
	require.NoError(t, err)
	require.Equal(t, want+"&X-Amz-Security-Token=AQoDYXdz%2BEXAMPLE%2Ftoken%3D", got)
}
