package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MinSecretsKeyLen is the shortest mfa.secrets_key accepted (characters).
const MinSecretsKeyLen = 32

// sealVersion prefixes every sealed value, so the format can change later.
const sealVersion = 1

// errUnsealed: a sealed value is corrupt, was sealed under another key or for another purpose.
var errUnsealed = errors.New("mfa: sealed value cannot be opened (wrong key, purpose or corrupt)")

// sealer seals secrets with AES-256-GCM under a key derived from the configured secrets key,
// and hashes recovery codes with HMAC-SHA256 under a second derived key.
type sealer struct {
	aead    cipher.AEAD
	hashKey []byte
}

func newSealer(secretsKey string) (*sealer, error) {
	if len(secretsKey) < MinSecretsKeyLen {
		return nil, fmt.Errorf("mfa: secrets_key must be at least %d characters", MinSecretsKeyLen)
	}
	encKey, err := hkdf.Key(sha256.New, []byte(secretsKey), nil, "gatehouse mfa seal v1", 32)
	if err != nil {
		return nil, fmt.Errorf("mfa: derive key: %w", err)
	}
	hashKey, err := hkdf.Key(sha256.New, []byte(secretsKey), nil, "gatehouse mfa recovery v1", 32)
	if err != nil {
		return nil, fmt.Errorf("mfa: derive key: %w", err)
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("mfa: cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("mfa: gcm: %w", err)
	}
	return &sealer{aead: aead, hashKey: hashKey}, nil
}

// seal encrypts plain, binding it to purpose (additional data): it opens only for the same
// purpose, so a value sealed for one user or use cannot be replayed as another.
func (s *sealer) seal(plain []byte, purpose string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	out := append([]byte{sealVersion}, nonce...)
	return s.aead.Seal(out, nonce, plain, []byte(purpose))
}

// open decrypts what seal produced for the same purpose.
func (s *sealer) open(sealed []byte, purpose string) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, errUnsealed
	}
	plain, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(purpose))
	if err != nil {
		return nil, errUnsealed
	}
	return plain, nil
}

// hash is the keyed hash recovery codes are stored as.
func (s *sealer) hash(purpose, value string) string {
	m := hmac.New(sha256.New, s.hashKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// stateEnvelope carries a sealed state value with its expiry.
type stateEnvelope struct {
	Exp  int64           `json:"exp"`
	Data json.RawMessage `json:"data"`
}

// sealState seals v (JSON) for purpose, valid until now+ttl, as URL-safe text (it travels in
// hidden form fields).
func (s *sealer) sealState(purpose string, v any, now time.Time, ttl time.Duration) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("mfa: encode state: %w", err)
	}
	env, err := json.Marshal(stateEnvelope{Exp: now.Add(ttl).Unix(), Data: data})
	if err != nil {
		return "", fmt.Errorf("mfa: encode state: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(s.seal(env, "state:"+purpose)), nil
}

// openState opens what sealState produced into v; expired or foreign state is an error.
func (s *sealer) openState(purpose, text string, now time.Time, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil {
		return errUnsealed
	}
	plain, err := s.open(raw, "state:"+purpose)
	if err != nil {
		return err
	}
	var env stateEnvelope
	if err := json.Unmarshal(plain, &env); err != nil {
		return fmt.Errorf("mfa: decode state: %w", err)
	}
	if now.Unix() > env.Exp {
		return ErrExpired
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		return fmt.Errorf("mfa: decode state: %w", err)
	}
	return nil
}
