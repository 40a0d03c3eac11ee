//go:build unix

package broker_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/connectors/local"
)

// BenchmarkFloor is the physical floor of the token endpoint's hot paths, measured in the
// same run as the other benchmarks so that their ratios mean something on any machine: one
// ES256 and one RS256 (2048-bit) signature over a SHA-256 digest, with nothing around them.
// A refresh signs two tokens (ID and access), so its floor is two signatures; a login with a
// password checks one bcrypt hash at the local connector's cost.
func BenchmarkFloor(b *testing.B) {
	digest := sha256.Sum256([]byte("header.payload of a typical token"))
	b.Run("ES256", func(b *testing.B) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		done := measureCPU(b)
		for range b.N {
			if _, err := ecdsa.SignASN1(rand.Reader, k, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
		done()
	})
	b.Run("RS256", func(b *testing.B) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			b.Fatal(err)
		}
		done := measureCPU(b)
		for range b.N {
			if _, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
		done()
	})
	b.Run("bcrypt", func(b *testing.B) {
		// One password check at the local connector's cost: a login's floor.
		hash, err := bcrypt.GenerateFromPassword([]byte("a password"), local.DefaultCost)
		if err != nil {
			b.Fatal(err)
		}
		done := measureCPU(b)
		for range b.N {
			if err := bcrypt.CompareHashAndPassword(hash, []byte("a password")); err != nil {
				b.Fatal(err)
			}
		}
		done()
	})
}
