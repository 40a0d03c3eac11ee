// Package seal encrypts secrets at rest: private signing keys, SAML keys, upstream tokens
// and MFA secrets, wherever storage keeps them. A Keyring holds one or more 32-byte keys,
// each with an ID; the first key seals, every key opens. A sealed value is
//
//	magic (4 bytes) | len(key ID) (1 byte) | key ID | nonce (12 bytes) | AES-256-GCM ciphertext
//
// and its additional data is the header followed by the value's context ("table/column/row
// id"), so a sealed value copied into another row, column or table does not open.
//
// A value without the magic prefix is plaintext written before sealing was turned on: Open
// returns it unchanged (and Current reports it as needing a reseal), so a database sealed
// halfway (a migration interrupted by a crash) stays readable.
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
)

// KeySize is the length of a seal key in bytes.
const KeySize = 32

// magic starts every sealed value: a NUL (no JSON, PEM or text secret starts with one),
// "GS" and the format version.
var magic = []byte{0, 'G', 'S', 1}

// keyIDPattern is what a key ID may look like: it is stored in every sealed value.
var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ErrUnknownKey: a value was sealed under a key ID the keyring does not hold.
var ErrUnknownKey = errors.New("sealed with a key that is not configured")

// Key is one seal key.
type Key struct {
	// ID names the key inside every value it seals (letters, digits, '.', '_', '-').
	ID string
	// Secret is the 32-byte AES-256 key.
	Secret []byte
}

// Keyring seals with its first key and opens with any of them. It is safe for concurrent use.
type Keyring struct {
	primary string
	aeads   map[string]cipher.AEAD
	ids     []string
}

// NewKeyring builds a keyring; keys[0] seals. Key IDs must be unique.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: no keys")
	}
	k := &Keyring{primary: keys[0].ID, aeads: map[string]cipher.AEAD{}}
	for _, key := range keys {
		if !keyIDPattern.MatchString(key.ID) {
			return nil, fmt.Errorf("seal: key ID %q: use 1-64 letters, digits, '.', '_' or '-'", key.ID)
		}
		if _, dup := k.aeads[key.ID]; dup {
			return nil, fmt.Errorf("seal: key ID %q listed twice", key.ID)
		}
		if len(key.Secret) != KeySize {
			return nil, fmt.Errorf("seal: key %q is %d bytes, want %d", key.ID, len(key.Secret), KeySize)
		}
		block, err := aes.NewCipher(key.Secret)
		if err != nil {
			return nil, fmt.Errorf("seal: key %q: %w", key.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("seal: key %q: %w", key.ID, err)
		}
		k.aeads[key.ID] = aead
		k.ids = append(k.ids, key.ID)
	}
	return k, nil
}

// Primary is the ID of the key that seals.
func (k *Keyring) Primary() string { return k.primary }

// KeyIDs lists the keyring's key IDs, the sealing key first.
func (k *Keyring) KeyIDs() []string { return append([]string(nil), k.ids...) }

// Has reports whether the keyring holds the key id.
func (k *Keyring) Has(id string) bool { _, ok := k.aeads[id]; return ok }

// Seal encrypts plain under the primary key, bound to context (e.g. "grants/auth/<id>").
func (k *Keyring) Seal(plain []byte, context string) ([]byte, error) {
	aead := k.aeads[k.primary]
	hdr := header(k.primary)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %s: random nonce: %w", context, err)
	}
	out := make([]byte, 0, len(hdr)+len(nonce)+len(plain)+aead.Overhead())
	out = append(append(out, hdr...), nonce...)
	return aead.Seal(out, nonce, plain, additional(hdr, context)), nil
}

// Open decrypts a value Seal produced for the same context. A value that is not sealed
// (plaintext from before sealing) is returned unchanged. A value sealed under a key the
// keyring lacks, or that does not authenticate, is an error naming context.
func (k *Keyring) Open(value []byte, context string) ([]byte, error) {
	id, hdrLen, ok := parseHeader(value)
	if !ok {
		if IsSealed(value) {
			return nil, fmt.Errorf("seal: %s: malformed sealed value", context)
		}
		return value, nil
	}
	aead, known := k.aeads[id]
	if !known {
		return nil, fmt.Errorf("seal: %s: key %q: %w (configure it under secrets.keys)", context, id, ErrUnknownKey)
	}
	ns := aead.NonceSize()
	if len(value) < hdrLen+ns+aead.Overhead() {
		return nil, fmt.Errorf("seal: %s: sealed value truncated", context)
	}
	hdr := value[:hdrLen]
	plain, err := aead.Open(nil, value[hdrLen:hdrLen+ns], value[hdrLen+ns:], additional(hdr, context))
	if err != nil {
		return nil, fmt.Errorf("seal: %s: sealed value does not open under key %q (corrupt, or moved from another row)", context, id)
	}
	return plain, nil
}

// Current reports whether value is sealed under the primary key (nothing to reseal).
func (k *Keyring) Current(value []byte) bool {
	id, _, ok := parseHeader(value)
	return ok && id == k.primary
}

// IsSealed reports whether value carries the sealed-value prefix.
func IsSealed(value []byte) bool { return bytes.HasPrefix(value, magic) }

// KeyID returns the ID of the key value was sealed under; ok is false for a value that is
// not sealed.
func KeyID(value []byte) (id string, ok bool) {
	id, _, ok = parseHeader(value)
	return id, ok
}

func header(id string) []byte {
	return append(append(append([]byte(nil), magic...), byte(len(id))), id...)
}

func additional(hdr []byte, context string) []byte {
	return append(append([]byte(nil), hdr...), context...)
}

// parseHeader returns the key ID and header length of a sealed value.
func parseHeader(v []byte) (id string, n int, ok bool) {
	if !IsSealed(v) || len(v) < len(magic)+1 {
		return "", 0, false
	}
	l := int(v[len(magic)])
	n = len(magic) + 1 + l
	if l == 0 || len(v) < n {
		return "", 0, false
	}
	return string(v[len(magic)+1 : n]), n, true
}

// NewKeyFile writes a new random key (base64, one line) to path, created 0600; it fails if
// path exists.
func NewKeyFile(path string) error {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("seal: generate key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("seal: create key file: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("seal: write key file %s: %w", path, err)
	}
	return nil
}
