package tokens

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Names of the key backends (config signing.backend).
const (
	BackendStorage = "storage" // private keys in storage (sealed with secrets.keys)
	BackendPKCS11  = "pkcs11"  // private keys in a PKCS#11 token; storage holds a KeyRef
)

// KeyBackend is where the private halves of the signing keys live. The KeyManager keeps the
// key set (kids, algorithms, public JWKs, times) in storage whatever the backend, so replicas
// agree on one set and one rotation; the backend makes key pairs and signs with them.
type KeyBackend interface {
	// Name is the backend's name (BackendStorage, BackendPKCS11).
	Name() string
	// Generate makes a key pair for alg with a new kid and returns its record: ID, Algorithm,
	// PublicJWK, and in PrivateJWK the private JWK (storage) or a KeyRef (a token). The
	// caller sets the times.
	Generate(alg string) (storage.SigningKey, error)
	// Owns reports whether a stored key's private half is kept by this backend; keys of
	// another backend (a changed signing.backend) are retired and only verify.
	Owns(r storage.SigningKey) bool
	// Signer returns the private half of a stored key this backend owns.
	Signer(r storage.SigningKey) (crypto.Signer, error)
	// Destroy deletes the private half of a key that expired or was generated and never
	// stored (a replica that lost the rotation). A key already gone is not an error.
	Destroy(r storage.SigningKey) error
}

// KeyRef is what storage holds in place of a private JWK for a key kept in a token: where
// to find the private half (never the key material).
type KeyRef struct {
	// Backend names the backend (BackendPKCS11).
	Backend string `json:"backend"`
	// Label is the key pair's CKA_LABEL; ID its CKA_ID (base64url).
	Label string `json:"label"`
	ID    string `json:"id"`
}

// ParseKeyRef reports whether a stored PrivateJWK is a KeyRef and returns it.
func ParseKeyRef(priv []byte) (KeyRef, bool) {
	var ref KeyRef
	if len(priv) == 0 || priv[0] != '{' {
		return ref, false
	}
	if err := json.Unmarshal(priv, &ref); err != nil || ref.Backend == "" {
		return KeyRef{}, false
	}
	return ref, true
}

// Marshal encodes the reference as it is stored.
func (r KeyRef) Marshal() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("tokens: marshal key reference: %w", err)
	}
	return b, nil
}

// NewKeyID returns a random kid (16 bytes, base64url).
func NewKeyID() (string, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("tokens: generate kid: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(id[:]), nil
}

// PublicRecord returns the record of a key pair whose private half stays elsewhere: its
// public JWK, and ref in PrivateJWK. It checks that pub fits alg.
func PublicRecord(kid, alg string, pub crypto.PublicKey, ref KeyRef) (storage.SigningKey, error) {
	jalg, _, err := algorithmInfo(alg)
	if err != nil {
		return storage.SigningKey{}, err
	}
	if !keyFits(jalg, pub) {
		return storage.SigningKey{}, fmt.Errorf("tokens: key %q: %T is not a %s key", kid, pub, alg)
	}
	pubJWK, err := jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"}.MarshalJSON()
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("tokens: marshal public key: %w", err)
	}
	refJSON, err := ref.Marshal()
	if err != nil {
		return storage.SigningKey{}, err
	}
	return storage.SigningKey{ID: kid, Algorithm: alg, PrivateJWK: refJSON, PublicJWK: pubJWK}, nil
}

// StorageBackend keeps private keys in storage as JWKs (sealed when secrets.keys is set).
type StorageBackend struct{}

// Name implements KeyBackend.
func (StorageBackend) Name() string { return BackendStorage }

// Generate implements KeyBackend: a key pair made in memory, its private JWK stored.
func (StorageBackend) Generate(alg string) (storage.SigningKey, error) { return generateKey(alg) }

// Owns implements KeyBackend: keys stored with a private JWK.
func (StorageBackend) Owns(r storage.SigningKey) bool {
	_, ref := ParseKeyRef(r.PrivateJWK)
	return len(r.PrivateJWK) > 0 && !ref
}

// Signer implements KeyBackend: the stored private JWK, parsed.
func (StorageBackend) Signer(r storage.SigningKey) (crypto.Signer, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(r.PrivateJWK); err != nil {
		return nil, fmt.Errorf("parse private JWK: %w", err)
	}
	if jwk.IsPublic() {
		return nil, fmt.Errorf("no private key stored")
	}
	s, ok := jwk.Key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T is not a signing key", jwk.Key)
	}
	if rk, ok := s.(*rsa.PrivateKey); ok {
		rk.Precompute() // otherwise every signature redoes the CRT setup
	}
	return s, nil
}

// Destroy implements KeyBackend: nothing to do (the row is the key).
func (StorageBackend) Destroy(storage.SigningKey) error { return nil }

// generateKey creates a key pair for alg in memory with a random kid; the caller sets its
// times.
func generateKey(alg string) (storage.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgEdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		_, _, err = algorithmInfo(alg)
	}
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("tokens: generate %s key: %w", alg, err)
	}
	kid, err := NewKeyID()
	if err != nil {
		return storage.SigningKey{}, err
	}
	privJWK, err := jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: alg, Use: "sig"}.MarshalJSON()
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("tokens: marshal private key: %w", err)
	}
	pubJWK, err := jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"}.MarshalJSON()
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("tokens: marshal public key: %w", err)
	}
	return storage.SigningKey{ID: kid, Algorithm: alg, PrivateJWK: privJWK, PublicJWK: pubJWK}, nil
}

// PublicKeyOf parses a stored public JWK.
func PublicKeyOf(pubJWK []byte) (crypto.PublicKey, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(pubJWK); err != nil {
		return nil, fmt.Errorf("tokens: parse public JWK: %w", err)
	}
	if !jwk.Valid() || !jwk.IsPublic() {
		return nil, fmt.Errorf("tokens: not a public JWK")
	}
	return jwk.Key, nil
}
