package config

import (
	"path/filepath"
	"regexp"
)

// Signing backends (signing.backend).
const (
	SigningBackendStorage = "storage"
	SigningBackendPKCS11  = "pkcs11"
)

// MsgNoPKCS11 is the problem reported for signing.backend: pkcs11 in a binary built without
// the pkcs11 tag.
const MsgNoPKCS11 = "this binary was built without PKCS#11 support; build with -tags pkcs11 (CGO_ENABLED=1)"

// keyLabel is what a signing.key_label may look like: the prefix of CKA_LABELs Gatehouse
// gives its keys (key_label-<kid>, within the 64 bytes many tokens allow).
var keyLabel = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)

// signing checks the signing block. No I/O: the module and PIN file are opened at start.
func (v *validator) signing(s *Signing) {
	v.oneOf("signing.backend", s.Backend, SigningBackendStorage, SigningBackendPKCS11)
	if s.Backend != SigningBackendPKCS11 {
		v.oneOf("signing.algorithm", s.Algorithm, "RS256", "ES256", "EdDSA")
		for _, k := range []struct{ key, val string }{{"module", s.Module}, {"token_label", s.TokenLabel}, {"pin_file", s.PinFile}, {"key_label", s.KeyLabel}} {
			if k.val != "" {
				v.addf("signing."+k.key, "is only used with signing.backend: pkcs11")
			}
		}
		return
	}
	if !PKCS11Built {
		v.addf("signing.backend", "%s", MsgNoPKCS11)
	}
	// Keys a token generates: ECDSA P-256 and RSA 2048 (Ed25519 is rare in PKCS#11 tokens).
	v.oneOf("signing.algorithm", s.Algorithm, "RS256", "ES256")
	switch {
	case s.Module == "":
		v.addf("signing.module", "is required with signing.backend: pkcs11 (the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so)")
	case !filepath.IsAbs(s.Module):
		v.addf("signing.module", "must be an absolute path, got %q", s.Module)
	}
	if s.TokenLabel == "" {
		v.addf("signing.token_label", "is required with signing.backend: pkcs11")
	}
	if s.PinFile == "" {
		v.addf("signing.pin_file", "is required with signing.backend: pkcs11 (a file holding the token's user PIN)")
	}
	if !keyLabel.MatchString(s.KeyLabel) {
		v.addf("signing.key_label", "%q is not a key label: use 1-32 letters, digits, '.', '_' or '-' (e.g. gatehouse)", s.KeyLabel)
	}
}
