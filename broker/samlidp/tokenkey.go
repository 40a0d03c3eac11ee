package samlidp

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// tokenKeyBlob is the BlobStore key naming the IdP key kept in a token (signing.backend:
// pkcs11) and holding its certificate.
const tokenKeyBlob = "saml-idp/token-key"

// tokenKeyHeader is the PEM header of tokenKeyBlob's certificate naming the key in the token.
const tokenKeyHeader = "Gatehouse-Key-Id"

// TokenKeys is where the IdP key lives when it is not in storage: a PKCS#11 token
// (tokens/pkcs11.Backend). The private half never leaves it.
type TokenKeys interface {
	// GenerateRSAKey makes an RSA-2048 key pair in the token under id.
	GenerateRSAKey(id string) (crypto.Signer, error)
	// FindKey returns the key pair stored under id (nil, nil when there is none).
	FindKey(id string) (crypto.Signer, error)
	// DestroyKey deletes the key pair stored under id.
	DestroyKey(id string) error
}

// LoadOrGenerateTokenKey returns the IdP key kept in the token and its certificate. The first
// start generates an RSA key in the token and a self-signed certificate through it; storage
// records which key and the certificate, so every replica finds the same key (when replicas
// start together the first record stored wins and the others destroy the key they made).
func LoadOrGenerateTokenKey(ctx context.Context, blobs storage.BlobStore, keys TokenKeys, entityID string, now time.Time) (crypto.Signer, *x509.Certificate, error) {
	if blobs == nil {
		return nil, nil, errors.New("samlidp: this storage backend cannot record the token's key; set saml_idp.key and saml_idp.cert")
	}
	v, err := blobs.GetBlob(ctx, tokenKeyBlob, now)
	switch {
	case err == nil:
		return findTokenKey(keys, v)
	case !errors.Is(err, storage.ErrNotFound):
		return nil, nil, fmt.Errorf("samlidp: load the token key's record: %w", err)
	}
	var raw [12]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, nil, fmt.Errorf("samlidp: key id: %w", err)
	}
	id := "saml-idp-" + base64.RawURLEncoding.EncodeToString(raw[:])
	signer, err := keys.GenerateRSAKey(id)
	if err != nil {
		return nil, nil, fmt.Errorf("samlidp: generate the IdP key in the token: %w", err)
	}
	der, err := selfSigned(signer, entityID, now)
	if err != nil {
		return nil, nil, errors.Join(err, keys.DestroyKey(id))
	}
	record := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{tokenKeyHeader: id}, Bytes: der})
	stored, err := blobs.PutBlobIfAbsent(ctx, storage.Blob{Key: tokenKeyBlob, Value: record}, now)
	if err != nil {
		// Maybe stored, maybe not: keep the key (a replica may already use it).
		return nil, nil, fmt.Errorf("samlidp: record the token key: %w", err)
	}
	if string(stored) != string(record) { // another replica's key won
		if err := keys.DestroyKey(id); err != nil {
			return nil, nil, fmt.Errorf("samlidp: destroy the unused key %s: %w", id, err)
		}
	}
	return findTokenKey(keys, stored)
}

// findTokenKey finds the key a tokenKeyBlob record names and checks it matches the
// certificate.
func findTokenKey(keys TokenKeys, record []byte) (crypto.Signer, *x509.Certificate, error) {
	b, _ := pem.Decode(record)
	if b == nil || b.Type != "CERTIFICATE" || b.Headers[tokenKeyHeader] == "" {
		return nil, nil, errors.New("samlidp: the token key's record in storage is damaged")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("samlidp: the token key's certificate: %w", err)
	}
	id := b.Headers[tokenKeyHeader]
	signer, err := keys.FindKey(id)
	if err != nil {
		return nil, nil, fmt.Errorf("samlidp: find the IdP key %s in the token: %w", id, err)
	}
	if signer == nil {
		return nil, nil, fmt.Errorf("samlidp: the IdP key %s is not in the token (another token, or deleted?)", id)
	}
	pub, ok := signer.Public().(*rsa.PublicKey)
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("samlidp: the IdP key %s in the token does not match its certificate", id)
	}
	return signer, cert, nil
}
