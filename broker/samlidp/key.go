package samlidp

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// keyBlob is the BlobStore key of the generated IdP key pair.
const keyBlob = "saml-idp/key"

// LoadKeyFiles reads the IdP's RSA private key (PKCS#1 or PKCS#8 PEM) and certificate (PEM).
func LoadKeyFiles(keyFile, certFile string) (*rsa.PrivateKey, *x509.Certificate, error) {
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("samlidp: read key: %w", err)
	}
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("samlidp: read certificate: %w", err)
	}
	return parseKeyPair(append(kb, cb...))
}

// LoadOrGenerateKey returns the key pair kept in the store, generating and storing an RSA key
// with a self-signed certificate (valid ten years, named after the entity ID) the first time.
// Replicas starting together agree on one key: the first one stored wins.
func LoadOrGenerateKey(ctx context.Context, blobs storage.BlobStore, entityID string, now time.Time) (*rsa.PrivateKey, *x509.Certificate, error) {
	if blobs == nil {
		return nil, nil, errors.New("samlidp: this storage backend cannot keep a generated key; set saml_idp.key and saml_idp.cert")
	}
	if v, err := blobs.GetBlob(ctx, keyBlob, now); err == nil {
		return parseKeyPair(v)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, nil, fmt.Errorf("samlidp: load key: %w", err)
	}
	pemBytes, err := generateKeyPair(entityID, now)
	if err != nil {
		return nil, nil, err
	}
	stored, err := blobs.PutBlobIfAbsent(ctx, storage.Blob{Key: keyBlob, Value: pemBytes}, now)
	if err != nil {
		return nil, nil, fmt.Errorf("samlidp: store key: %w", err)
	}
	return parseKeyPair(stored)
}

// generateKeyPair makes an RSA-2048 key and a self-signed certificate, PEM-encoded together.
func generateKeyPair(entityID string, now time.Time) ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("samlidp: generate key: %w", err)
	}
	der, err := selfSigned(key, entityID, now)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...), nil
}

// selfSigned makes the IdP's self-signed certificate (DER) for key: valid ten years, named
// after the entity ID. key may be a token's signer: the certificate is signed through it.
func selfSigned(key crypto.Signer, entityID string, now time.Time) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("samlidp: serial: %w", err)
	}
	cn := entityID
	if len(cn) > 64 {
		cn = cn[:64]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Gatehouse SAML IdP"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("samlidp: self-signed certificate: %w", err)
	}
	return der, nil
}

// parseKeyPair reads the first private key and the first certificate of a PEM bundle and
// checks that they belong together.
func parseKeyPair(data []byte) (*rsa.PrivateKey, *x509.Certificate, error) {
	var key *rsa.PrivateKey
	var cert *x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("samlidp: parse key: %w", err)
			}
			key = k
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("samlidp: parse key: %w", err)
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, nil, fmt.Errorf("samlidp: the key is a %T; SAML signing here needs an RSA key", k)
			}
			key = rk
		case "CERTIFICATE":
			if cert == nil {
				c, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					return nil, nil, fmt.Errorf("samlidp: parse certificate: %w", err)
				}
				cert = c
			}
		}
	}
	if key == nil || cert == nil {
		return nil, nil, errors.New("samlidp: need an RSA private key and a certificate (PEM)")
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, errors.New("samlidp: the certificate does not match the private key")
	}
	return key, cert, nil
}
