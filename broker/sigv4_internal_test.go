package broker

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The Python SDK's own SigV4 test vector (test_sigv4_core.py).
const (
	vectorKeyID  = "TRUSTMETHISIDISFAKE0"
	vectorSecret = "trustMeThisSecretKeyIsSoFakeAaBbCc00Dd11"
	vectorURL    = "/mqtt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=TRUSTMETHISIDISFAKE0%2F20170628%2Fus-east-1%2Fiotdata%2Faws4_request&X-Amz-Date=20170628T204845Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=b79a4d7e31ccbf96b22d93cce1b500b9ee611ec966159547e140ae32e4dcebed"
)

func vectorRequest(t *testing.T, uri string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, "https://data.iot.us-east-1.amazonaws.com"+uri, nil)
	require.NoError(t, err)
	return r
}

func TestVerifyPresignedPythonVector(t *testing.T) {
	t.Parallel()
	at := time.Date(2017, 6, 28, 21, 0, 0, 0, time.UTC)
	secrets := map[string]string{vectorKeyID: vectorSecret}
	require.NoError(t, verifyPresigned(vectorRequest(t, vectorURL), secrets, at))
	// The session token is appended after signing and is not signed.
	require.NoError(t, verifyPresigned(vectorRequest(t, vectorURL+"&X-Amz-Security-Token=AQoDYXdz%2BEXAMPLE/token%3D"), secrets, at))

	tests := []struct {
		name, uri string
		secrets   map[string]string
		at        time.Time
		want      string
	}{
		{"wrong secret", vectorURL, map[string]string{vectorKeyID: "wrong"}, at, "signature does not match"},
		{"unknown key", vectorURL, map[string]string{"OTHER": vectorSecret}, at, "unknown access key id"},
		{"expired", vectorURL, secrets, at.Add(25 * time.Hour), "signature expired"},
		{"from the future", vectorURL, secrets, at.Add(-time.Hour), "in the future"},
		{"tampered", vectorURL + "&extra=1", secrets, at, "signature does not match"},
		{"no signature", "/mqtt?X-Amz-Algorithm=AWS4-HMAC-SHA256", secrets, at, "malformed X-Amz-Credential"},
		{"wrong service", "/mqtt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=TRUSTMETHISIDISFAKE0%2F20170628%2Fus-east-1%2Fs3%2Faws4_request", secrets, at, `service "s3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorContains(t, verifyPresigned(vectorRequest(t, tt.uri), tt.secrets, tt.at), tt.want)
		})
	}
}
