// Package opaque makes the broker's random identifiers and opaque tokens and says how tokens
// are keyed at rest. Codes, refresh tokens and device codes are opaque tokens: 256 random bits,
// handed out once and stored only as their SHA-256 (Hash). Identifiers (auth requests, grants)
// are 128 random bits and are not secrets.
package opaque

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// Token returns a 256-bit random opaque token, base64url without padding.
func Token() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (it crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Hash is how an opaque token is keyed at rest: base64url SHA-256 of the token.
func Hash(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// ID returns a 128-bit random identifier, base64url without padding.
func ID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (it crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
