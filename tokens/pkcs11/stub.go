//go:build !pkcs11

package pkcs11

import (
	"crypto"
	"errors"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// Backend is a tokens.KeyBackend over a PKCS#11 token (not in this build).
type Backend struct{ tokens.StorageBackend }

// Open fails: this binary was built without the pkcs11 tag.
func Open(config.Signing) (*Backend, error) {
	return nil, errNotBuilt
}

// Close does nothing.
func (*Backend) Close() error { return nil }

// GenerateRSAKey fails: not in this build.
func (*Backend) GenerateRSAKey(string) (crypto.Signer, error) { return nil, errNotBuilt }

// FindKey fails: not in this build.
func (*Backend) FindKey(string) (crypto.Signer, error) { return nil, errNotBuilt }

// DestroyKey fails: not in this build.
func (*Backend) DestroyKey(string) error { return errNotBuilt }

var errNotBuilt = errors.New("signing.backend: " + config.MsgNoPKCS11)
