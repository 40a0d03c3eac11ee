// Package dpoptest makes DPoP proofs for tests: a client key pair and proofs signed with it,
// with every field overridable so tests can make the bad proofs RFC 9449 says to refuse.
package dpoptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/broker/dpop"
)

// Key is a client's DPoP key pair.
type Key struct {
	// Private signs proofs.
	Private crypto.Signer
	// Alg is the proof alg (ES256 for NewKey).
	Alg jose.SignatureAlgorithm
}

// NewKey returns a fresh P-256 key (ES256).
func NewKey() *Key {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return &Key{Private: k, Alg: jose.ES256}
}

// JKT is the key's RFC 7638 thumbprint, base64url.
func (k *Key) JKT() string {
	jwk := jose.JSONWebKey{Key: k.Private.Public()}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// Options change a proof. Zero values keep the defaults: a random jti, iat now, typ
// dpop+jwt, the public key as jwk, no ath, no nonce.
type Options struct {
	JTI         string
	IssuedAt    time.Time
	AccessToken string // sets ath to its hash
	Nonce       string
	Typ         string
	// JWK replaces the header's jwk (a private key, another key...).
	JWK *jose.JSONWebKey
	// Claims are merged over the defaults (a nil value deletes the claim).
	Claims map[string]any
}

// Proof signs a proof for method and url.
func (k *Key) Proof(method, url string, o Options) string {
	if o.JTI == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		o.JTI = base64.RawURLEncoding.EncodeToString(b[:])
	}
	if o.IssuedAt.IsZero() {
		o.IssuedAt = time.Now()
	}
	if o.Typ == "" {
		o.Typ = "dpop+jwt"
	}
	jwk := o.JWK
	if jwk == nil {
		jwk = &jose.JSONWebKey{Key: k.Private.Public()}
	}
	claims := map[string]any{"jti": o.JTI, "htm": method, "htu": url, "iat": o.IssuedAt.Unix()}
	if o.AccessToken != "" {
		claims["ath"] = dpop.AccessTokenHash(o.AccessToken)
	}
	if o.Nonce != "" {
		claims["nonce"] = o.Nonce
	}
	for c, v := range o.Claims {
		if v == nil {
			delete(claims, c)
		} else {
			claims[c] = v
		}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(o.Typ)).WithHeader("jwk", jwk)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: k.Private}, opts)
	if err != nil {
		panic(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		panic(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return out
}
