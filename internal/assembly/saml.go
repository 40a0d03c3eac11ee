package assembly

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/samlidp"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

// newSAMLIdP builds the SAML identity provider when the configuration has service providers
// (or a saml_idp block), or when the admin API may register them (admin.clients with a
// storage.ServiceProviderStore); nil otherwise. Stored SPs are read from the store. The key comes from saml_idp.key/cert, or is generated
// once and kept in storage (a storage.BlobStore: SQLite and PostgreSQL implement it; with a
// backend that does not, the files are needed).
func newSAMLIdP(ctx context.Context, cfg *config.Config, store storage.Storage, inToken samlidp.TokenKeys, hc *http.Client, logger *slog.Logger, now func() time.Time) (*samlidp.IdP, error) {
	sc := cfg.SAMLIdP
	spStore, _ := store.(storage.ServiceProviderStore) //nolint:errcheck // nil: only configured SPs
	if len(cfg.ServiceProviders) == 0 && sc.Key == "" && sc.EntityID == "" && (spStore == nil || len(cfg.Admin.Clients) == 0) {
		return nil, nil
	}
	entityID := sc.EntityID
	if entityID == "" {
		entityID = strings.TrimSuffix(cfg.Issuer, "/") + "/saml/idp/metadata"
	}
	var key *rsa.PrivateKey
	var signer crypto.Signer
	var cert *x509.Certificate
	var err error
	blobs, _ := store.(storage.BlobStore)
	switch {
	case sc.Key != "": // configured files win, with or without a token
		key, cert, err = samlidp.LoadKeyFiles(sc.Key, sc.Cert)
	case inToken != nil: // signing.backend: pkcs11: the IdP key is generated in the token too
		signer, cert, err = samlidp.LoadOrGenerateTokenKey(ctx, blobs, inToken, entityID, now())
	default:
		key, cert, err = samlidp.LoadOrGenerateKey(ctx, blobs, entityID, now())
	}
	if err != nil {
		return nil, fmt.Errorf("saml_idp: %w", err)
	}
	replay, err := newReplayCache(store, "replay:saml-idp:")
	if err != nil {
		return nil, fmt.Errorf("saml_idp: %w", err)
	}
	idp, err := samlidp.New(samlidp.Options{
		BaseURL: cfg.Issuer, EntityID: sc.EntityID, Key: key, Signer: signer, Cert: cert, ServiceProviders: cfg.ServiceProviders,
		AssertionLifetime: sc.AssertionLifetime.D(), PersistentSalt: cfg.PairwiseSalt, HTTP: hc,
		Logger: logger.With("component", "saml-idp"), Now: now, ReplayCache: samlReplayCache{replay}, Store: spStore,
	})
	if err != nil {
		return nil, err
	}
	logger.InfoContext(ctx, "SAML identity provider enabled", "entity_id", idp.EntityID(), "service_providers", len(cfg.ServiceProviders),
		"metadata", strings.TrimSuffix(cfg.Issuer, "/")+"/saml/idp/metadata")
	return idp, nil
}
