//go:build !pkcs11

package config

// PKCS11Built reports whether this binary was built with -tags pkcs11 (signing.backend:
// pkcs11 is available).
const PKCS11Built = false
