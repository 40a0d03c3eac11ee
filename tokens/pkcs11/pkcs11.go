//go:build pkcs11

package pkcs11

import (
	"crypto"
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ThalesGroup/crypto11"
	p11 "github.com/miekg/pkcs11"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// rsaBits is the modulus size of RS256 keys generated in the token.
const rsaBits = 2048

// tokenNotFound is crypto11's (unexported) error when no token has the label.
const tokenNotFound = "could not find PKCS#11 token"

// Backend is a tokens.KeyBackend over a PKCS#11 token. It is safe for concurrent use.
type Backend struct {
	ctx      *crypto11.Context
	keyLabel string
}

var _ tokens.KeyBackend = (*Backend)(nil)

// Open loads the module, finds the token by its label and logs in with the PIN read from
// pin_file. Each failure has its own message: the module missing or not a PKCS#11 library,
// the PIN file unreadable, no token with that label, a wrong PIN.
func Open(cfg config.Signing) (*Backend, error) {
	if _, err := os.Stat(cfg.Module); err != nil {
		return nil, fmt.Errorf("signing.module: PKCS#11 module %s: %w", cfg.Module, err)
	}
	pin, err := os.ReadFile(cfg.PinFile)
	if err != nil {
		return nil, fmt.Errorf("signing.pin_file: cannot read the token PIN: %w", err)
	}
	ctx, err := crypto11.Configure(&crypto11.Config{
		Path: cfg.Module, TokenLabel: cfg.TokenLabel, Pin: strings.TrimSpace(string(pin)),
	})
	if err != nil {
		return nil, openError(cfg, err)
	}
	return &Backend{ctx: ctx, keyLabel: cfg.KeyLabel}, nil
}

// openError names what crypto11.Configure failed at.
func openError(cfg config.Signing, err error) error {
	var perr p11.Error
	switch {
	case err.Error() == tokenNotFound:
		return fmt.Errorf("signing.token_label: no PKCS#11 token labelled %q in %s (softhsm2-util --show-slots lists them)", cfg.TokenLabel, cfg.Module)
	case errors.As(err, &perr) && (perr == p11.CKR_PIN_INCORRECT || perr == p11.CKR_PIN_INVALID || perr == p11.CKR_PIN_LEN_RANGE):
		return fmt.Errorf("signing.pin_file: the token %q refused the PIN in %s: %w", cfg.TokenLabel, cfg.PinFile, err)
	case errors.As(err, &perr) && perr == p11.CKR_PIN_LOCKED:
		return fmt.Errorf("signing.pin_file: the token %q has locked its user PIN: %w", cfg.TokenLabel, err)
	case strings.Contains(err.Error(), "failed to create module context"):
		return fmt.Errorf("signing.module: %s is not a loadable PKCS#11 library: %w", cfg.Module, err)
	}
	return fmt.Errorf("signing: opening PKCS#11 token %q: %w", cfg.TokenLabel, err)
}

// Close logs out and releases the module (when no other Backend uses it).
func (b *Backend) Close() error { return b.ctx.Close() }

// Name implements tokens.KeyBackend.
func (b *Backend) Name() string { return tokens.BackendPKCS11 }

// Label is the CKA_LABEL of the key pair of kid.
func (b *Backend) Label(kid string) string { return b.keyLabel + "-" + kid }

// Generate implements tokens.KeyBackend: a key pair generated in the token (private half
// sensitive, not extractable, sign only), CKA_ID the kid, CKA_LABEL key_label-kid.
func (b *Backend) Generate(alg string) (storage.SigningKey, error) {
	kid, err := tokens.NewKeyID()
	if err != nil {
		return storage.SigningKey{}, err
	}
	id, label := []byte(kid), []byte(b.Label(kid))
	pubAttrs, err := crypto11.NewAttributeSetWithIDAndLabel(id, label)
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("pkcs11: %w", err)
	}
	privAttrs := pubAttrs.Copy()
	for _, a := range privateAttributes() {
		privAttrs[a.Type] = a
	}
	var signer crypto11.Signer
	switch alg {
	case tokens.AlgES256:
		signer, err = b.ctx.GenerateECDSAKeyPairWithAttributes(pubAttrs, privAttrs, elliptic.P256())
	case tokens.AlgRS256:
		pubAttrs[p11.CKA_ENCRYPT] = p11.NewAttribute(p11.CKA_ENCRYPT, false)
		signer, err = b.ctx.GenerateRSAKeyPairWithAttributes(pubAttrs, privAttrs, rsaBits)
	default:
		return storage.SigningKey{}, fmt.Errorf("pkcs11: %s keys are not supported in a token (use RS256 or ES256)", alg)
	}
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("pkcs11: generate %s key in the token: %w", alg, err)
	}
	ref := tokens.KeyRef{Backend: tokens.BackendPKCS11, Label: string(label), ID: base64.RawURLEncoding.EncodeToString(id)}
	rec, err := tokens.PublicRecord(kid, alg, signer.Public(), ref)
	if err != nil {
		if derr := signer.Delete(); derr != nil {
			err = errors.Join(err, fmt.Errorf("pkcs11: delete key %q: %w", kid, derr))
		}
		return storage.SigningKey{}, err
	}
	return rec, nil
}

// Owns implements tokens.KeyBackend: keys stored as a PKCS#11 reference.
func (b *Backend) Owns(r storage.SigningKey) bool {
	ref, ok := tokens.ParseKeyRef(r.PrivateJWK)
	return ok && ref.Backend == tokens.BackendPKCS11
}

// Signer implements tokens.KeyBackend: the key pair found in the token by its CKA_ID,
// checked against the public key in storage.
func (b *Backend) Signer(r storage.SigningKey) (crypto.Signer, error) {
	s, err := b.find(r)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("pkcs11: no key pair with CKA_ID %q in the token", r.ID)
	}
	if err := samePublic(s.Public(), r.PublicJWK); err != nil {
		return nil, err
	}
	return s, nil
}

// Destroy implements tokens.KeyBackend: deletes both halves from the token.
func (b *Backend) Destroy(r storage.SigningKey) error {
	s, err := b.find(r)
	if err != nil || s == nil {
		return err
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("pkcs11: delete key %q: %w", r.ID, err)
	}
	return nil
}

// Protection is how a private key is protected in the token, read back from it.
type Protection struct {
	Sensitive, Extractable, NeverExtractable, Private bool
}

// Protection reads CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE and CKA_PRIVATE of a
// stored key's private half from the token.
func (b *Backend) Protection(r storage.SigningKey) (Protection, error) {
	s, err := b.find(r)
	if err != nil {
		return Protection{}, err
	}
	if s == nil {
		return Protection{}, fmt.Errorf("pkcs11: no key pair with CKA_ID %q in the token", r.ID)
	}
	attrs, err := b.ctx.GetAttributes(s, []crypto11.AttributeType{
		crypto11.CkaSensitive, crypto11.CkaExtractable, crypto11.CkaNeverExtractable, crypto11.CkaPrivate,
	})
	if err != nil {
		return Protection{}, fmt.Errorf("pkcs11: read attributes of %q: %w", r.ID, err)
	}
	flag := func(t crypto11.AttributeType) bool {
		a := attrs[t]
		return a != nil && len(a.Value) == 1 && a.Value[0] != 0
	}
	return Protection{
		Sensitive: flag(crypto11.CkaSensitive), Extractable: flag(crypto11.CkaExtractable),
		NeverExtractable: flag(crypto11.CkaNeverExtractable), Private: flag(crypto11.CkaPrivate),
	}, nil
}

// privateAttributes are the attributes of every private key Gatehouse generates: private,
// sensitive, never extractable, signing only.
func privateAttributes() []*p11.Attribute {
	return []*p11.Attribute{
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_SIGN, true),
		p11.NewAttribute(p11.CKA_DECRYPT, false),
	}
}

// find returns the key pair of a stored key (nil when the token has none).
func (b *Backend) find(r storage.SigningKey) (crypto11.Signer, error) {
	ref, ok := tokens.ParseKeyRef(r.PrivateJWK)
	if !ok || ref.Backend != tokens.BackendPKCS11 {
		return nil, fmt.Errorf("pkcs11: key %q is not kept in a PKCS#11 token", r.ID)
	}
	id, err := base64.RawURLEncoding.DecodeString(ref.ID)
	if err != nil || len(id) == 0 {
		return nil, fmt.Errorf("pkcs11: key %q: bad CKA_ID in its reference", r.ID)
	}
	return b.findID(id)
}

// findID returns the key pair with CKA_ID id (nil when the token has none).
func (b *Backend) findID(id []byte) (crypto11.Signer, error) {
	found, err := b.ctx.FindKeyPairs(id, nil)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: find key %q: %w", id, err)
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("pkcs11: %d key pairs with CKA_ID %q in the token", len(found), id)
}

// samePublic checks that the token's public key is the one storage publishes.
func samePublic(pub crypto.PublicKey, stored []byte) error {
	want, err := tokens.PublicKeyOf(stored)
	if err != nil {
		return err
	}
	eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !eq.Equal(want) {
		return errors.New("pkcs11: the token's key pair does not match the public key in storage")
	}
	return nil
}

// GenerateRSAKey makes an RSA-2048 sign-only key pair in the token under id (CKA_ID id,
// CKA_LABEL key_label-id), sensitive and not extractable: the SAML IdP key
// (samlidp.TokenKeys).
func (b *Backend) GenerateRSAKey(id string) (crypto.Signer, error) {
	pubAttrs, err := crypto11.NewAttributeSetWithIDAndLabel([]byte(id), []byte(b.Label(id)))
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	privAttrs := pubAttrs.Copy()
	for _, a := range privateAttributes() {
		privAttrs[a.Type] = a
	}
	pubAttrs[p11.CKA_ENCRYPT] = p11.NewAttribute(p11.CKA_ENCRYPT, false)
	s, err := b.ctx.GenerateRSAKeyPairWithAttributes(pubAttrs, privAttrs, rsaBits)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: generate RSA key %s in the token: %w", id, err)
	}
	return s, nil
}

// FindKey returns the key pair under id (nil, nil when the token has none).
func (b *Backend) FindKey(id string) (crypto.Signer, error) {
	s, err := b.findID([]byte(id))
	if err != nil || s == nil {
		return nil, err
	}
	return s, nil
}

// DestroyKey deletes the key pair under id; a missing key is not an error.
func (b *Backend) DestroyKey(id string) error {
	s, err := b.findID([]byte(id))
	if err != nil || s == nil {
		return err
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("pkcs11: delete key %s: %w", id, err)
	}
	return nil
}
