package config

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Secrets configures the sealing of secrets at rest (private signing keys, SAML keys,
// upstream tokens, MFA secrets): AES-256-GCM under the first key; every listed key opens.
type Secrets struct {
	// Keys are the seal keys, newest first: the first seals, all unseal. Rotate by putting
	// a new key first and running `gatehouse secrets rotate`.
	Keys []SealKey `yaml:"keys"`
}

// SealKey is one seal key: an ID stored beside every value it seals, and a file holding
// 32 random bytes (raw, 64 hex digits, or base64 as `openssl rand -base64 32` prints).
type SealKey struct {
	ID   string `yaml:"id"`
	File string `yaml:"file"`
}

// sealKeyID is what a seal key ID may look like (internal/seal stores it in every value).
var sealKeyID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// SealKeySize is the length of a seal key in bytes.
const SealKeySize = 32

// ParseSealKey decodes a seal key file's content: exactly 32 raw bytes, or 64 hex digits,
// or standard base64 of 32 bytes, surrounding whitespace ignored. (internal/seal.ParseKey
// applies the same rule; config imports no Gatehouse package.)
func ParseSealKey(content []byte) ([]byte, error) {
	if len(content) == SealKeySize {
		return content, nil
	}
	text := strings.TrimSpace(string(content))
	if len(text) == 2*SealKeySize {
		if b, err := hex.DecodeString(text); err == nil {
			return b, nil
		}
	}
	if b, err := base64.StdEncoding.DecodeString(text); err == nil && len(b) == SealKeySize {
		return b, nil
	}
	return nil, fmt.Errorf("holds %d bytes, not a %d-byte key (raw, 64 hex digits, or base64: openssl rand -base64 32)", len(content), SealKeySize)
}

// secrets checks the secrets block: unique IDs, and readable key files of the right size.
func (v *validator) secrets(s *Secrets) {
	seen := map[string]bool{}
	for i, k := range s.Keys {
		p := fmt.Sprintf("secrets.keys[%d]", i)
		switch {
		case !sealKeyID.MatchString(k.ID):
			v.addf(p+".id", "%q is not a key ID: use 1-64 letters, digits, '.', '_' or '-' (e.g. k2)", k.ID)
		case seen[k.ID]:
			v.addf(p+".id", "key %q is listed twice", k.ID)
		}
		seen[k.ID] = true
		if k.File == "" {
			v.addf(p+".file", "key %q: a key file is required", k.ID)
			continue
		}
		b, err := os.ReadFile(k.File)
		if err != nil {
			v.addf(p+".file", "key %q: cannot read %s: %v", k.ID, k.File, err)
			continue
		}
		if _, err := ParseSealKey(b); err != nil {
			v.addf(p+".file", "key %q: %s %v", k.ID, k.File, err)
		}
	}
}

// Warnings lists what is allowed but unwise in a configuration file; serve logs them and
// check-config prints them.
func (c *Config) Warnings() []string {
	var out []string
	if len(c.Secrets.Keys) == 0 {
		out = append(out, "secrets.keys is not set: private signing keys, SAML keys and upstream tokens are stored in clear "+
			"in the database and its backups; configure seal keys (docs/production.md, \"Seal keys\")")
	}
	return append(out, c.usageWarnings()...)
}
