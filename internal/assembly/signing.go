package assembly

import (
	"github.com/gatehouse-id/gatehouse/broker/samlidp"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/tokens"
	"github.com/gatehouse-id/gatehouse/tokens/pkcs11"
)

// keyBackend opens where the private signing keys live: storage, or the PKCS#11 token of
// signing.backend: pkcs11 (opened here, at start: a missing module, an unknown token label
// or a wrong PIN fails the start with its own message).
func (b *builder) keyBackend() (tokens.KeyBackend, error) {
	if b.cfg.Signing.Backend != config.SigningBackendPKCS11 {
		return tokens.StorageBackend{}, nil
	}
	hsm, err := pkcs11.Open(b.cfg.Signing)
	if err != nil {
		return nil, err
	}
	b.gh.hsm = hsm
	b.logger.Info("signing keys are kept in a PKCS#11 token", "module", b.cfg.Signing.Module,
		"token_label", b.cfg.Signing.TokenLabel, "key_label", b.cfg.Signing.KeyLabel)
	return hsm, nil
}

// samlTokenKeys is where the SAML IdP generates its key when saml_idp.key is not set: the
// PKCS#11 token of signing.backend: pkcs11, or nil (storage).
func (b *builder) samlTokenKeys() samlidp.TokenKeys {
	if b.gh.hsm == nil {
		return nil
	}
	return b.gh.hsm
}
