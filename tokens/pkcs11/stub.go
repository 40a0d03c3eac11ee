//go:build !pkcs11

package pkcs11

import (
	"errors"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// Backend is a tokens.KeyBackend over a PKCS#11 token (not in this build).
type Backend struct{ tokens.StorageBackend }

// Open fails: this binary was built without the pkcs11 tag.
func Open(config.Signing) (*Backend, error) {
	return nil, errors.New("signing.backend: " + config.MsgNoPKCS11)
}

// Close does nothing.
func (*Backend) Close() error { return nil }
