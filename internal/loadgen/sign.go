package loadgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"syscall"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// samplePayload is the size and shape of a client_credentials access token's claims.
var samplePayload = []byte(`{"iss":"http://127.0.0.1:5556","sub":"billing-job","aud":"https://api.example.com",` +
	`"exp":1800000000,"iat":1799996400,"jti":"k3v2lq0x6m5d4c7b8a9z1y2w3u","client_id":"billing-job","scope":"invoices.read"}`)

// MeasureES256Sign returns the CPU time of one ES256 signature (go-jose, P-256, a compact JWS
// of an access token's size) in this process: the average over n signatures, measured with
// getrusage so that the result is CPU time, as the server's figure is.
func MeasureES256Sign(n int) (time.Duration, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return 0, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	if err != nil {
		return 0, err
	}
	sign := func() error {
		jws, err := signer.Sign(samplePayload)
		if err != nil {
			return err
		}
		_, err = jws.CompactSerialize()
		return err
	}
	for range 50 { // warm up
		if err := sign(); err != nil {
			return 0, err
		}
	}
	before, err := selfCPU()
	if err != nil {
		return 0, err
	}
	for range n {
		if err := sign(); err != nil {
			return 0, err
		}
	}
	after, err := selfCPU()
	if err != nil {
		return 0, err
	}
	return (after - before) / time.Duration(n), nil
}

// selfCPU is this process's CPU time (user + system).
func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
