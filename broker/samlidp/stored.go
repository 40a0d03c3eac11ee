package samlidp

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Placeholders standing for inline metadata and certificate in the configuration view of a
// stored SP (ConfigOf): the configuration's rules count them as metadata_file and cert.
const (
	inlineMetadata = "(metadata)"
	inlineCert     = "(cert_pem)"
)

// ConfigOf is the configuration view of a stored SP, checked with the rules of
// service_providers (config.ValidateServiceProvider): inline metadata stands for
// metadata_file, an inline certificate for cert.
func ConfigOf(s storage.ServiceProvider) config.ServiceProvider {
	signResp, signAssert := s.SignResponse, s.SignAssertion
	c := config.ServiceProvider{
		ID: s.ID, Name: s.Name, EntityID: s.EntityID, ACSURL: s.ACSURL, SLOURL: s.SLOURL,
		NameIDFormat: s.NameIDFormat, Attributes: s.Attributes, SignResponse: &signResp, SignAssertion: &signAssert,
		EncryptAssertion: s.EncryptAssertion, AllowedConnectors: s.AllowedConnectors, Trusted: s.Trusted,
		MFAClasses: s.MFAClasses,
	}
	if s.MetadataXML != "" {
		c.MetadataFile = inlineMetadata
		if s.ACSURL == "" {
			c.EntityID = "" // read from the metadata, as with metadata_file
		}
	}
	if s.CertPEM != "" {
		c.Cert = inlineCert
	}
	return c
}

// FromStored builds a stored SP: its metadata parsed (and checked to describe its entity ID)
// with crewjam/saml, its certificate parsed. An error says which field is wrong.
func FromStored(s storage.ServiceProvider, now func() time.Time) (*ServiceProvider, error) {
	c := ConfigOf(s)
	c.MetadataFile, c.Cert = "", ""
	var mdData []byte
	if s.MetadataXML != "" {
		mdData = []byte(s.MetadataXML)
		c.EntityID = s.EntityID
	}
	var cert *x509.Certificate
	if s.CertPEM != "" {
		parsed, err := parseCertPEM([]byte(s.CertPEM))
		if err != nil {
			return nil, fmt.Errorf("cert_pem: %w", err)
		}
		cert = parsed
	}
	sp, err := buildServiceProvider(c, mdData, cert, nil, now)
	if err != nil {
		return nil, err
	}
	if sp.entityID != s.EntityID {
		return nil, fmt.Errorf("metadata: describes entity %q, not %q", sp.entityID, s.EntityID)
	}
	sp.Version = s.Version
	return sp, nil
}

// EntityIDOf returns the entity ID an SP's inline metadata describes (the first
// EntityDescriptor with an SPSSODescriptor), parsed with crewjam/saml.
func EntityIDOf(metadataXML []byte) (string, error) {
	md, err := parseSPMetadata(metadataXML, "")
	if err != nil {
		return "", err
	}
	return md.EntityID, nil
}

// storedSPs reads runtime SPs from storage on every lookup, so that an SP created, changed or
// deleted through any replica counts at once; only the parsing of a version already seen is
// reused (keyed by ID and version).
type storedSPs struct {
	store storage.ServiceProviderStore
	now   func() time.Time
	mu    sync.Mutex
	built map[string]*ServiceProvider
}

// maxBuilt bounds the parsed SPs kept; past it the cache starts over.
const maxBuilt = 1024

// fromRow returns the parsed SP of a stored row, reusing the one built for the same version.
func (st *storedSPs) fromRow(s storage.ServiceProvider) (*ServiceProvider, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if sp := st.built[s.ID]; sp != nil && sp.Version == s.Version && sp.entityID == s.EntityID {
		return sp, nil
	}
	sp, err := FromStored(s, st.now)
	if err != nil {
		return nil, fmt.Errorf("samlidp: stored service provider %s: %w", s.ID, err)
	}
	if len(st.built) >= maxBuilt {
		st.built = map[string]*ServiceProvider{}
	}
	st.built[s.ID] = sp
	return sp, nil
}

// byEntityID returns the stored SP of an entity ID; nil and no error when there is none.
func (st *storedSPs) byEntityID(ctx context.Context, entityID string) (*ServiceProvider, error) {
	s, err := st.store.GetServiceProviderByEntityID(ctx, entityID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("samlidp: look up service provider %q: %w", entityID, err)
	}
	return st.fromRow(s)
}

// byID returns the stored SP with the ID; nil and no error when there is none.
func (st *storedSPs) byID(ctx context.Context, id string) (*ServiceProvider, error) {
	s, err := st.store.GetServiceProvider(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("samlidp: look up service provider %s: %w", id, err)
	}
	return st.fromRow(s)
}

// LookupServiceProvider returns the SP with the ID: a configured one, else a stored one; nil
// and no error when there is none. A storage error is returned.
func (p *IdP) LookupServiceProvider(ctx context.Context, id string) (*ServiceProvider, error) {
	if sp := p.reg.byID[id]; sp != nil || p.reg.stored == nil || id == "" {
		return sp, nil
	}
	return p.reg.stored.byID(ctx, id)
}

// serviceProviderIDs lists the IDs of the configured SPs, then of the stored ones.
func (p *IdP) serviceProviderIDs(ctx context.Context) ([]string, error) {
	ids := make([]string, 0, len(p.reg.order))
	for _, sp := range p.reg.order {
		ids = append(ids, sp.ID)
	}
	if p.reg.stored == nil {
		return ids, nil
	}
	stored, err := p.reg.stored.store.ListServiceProviders(ctx)
	if err != nil {
		return ids, fmt.Errorf("samlidp: list service providers: %w", err)
	}
	for _, s := range stored {
		if p.reg.byID[s.ID] == nil {
			ids = append(ids, s.ID)
		}
	}
	return ids, nil
}

// StoredClient returns the pseudo-client of a stored SP ("saml:<id>"), for the client
// registry (clients.Registry.WithResolver); nil and no error when there is no such SP.
func (p *IdP) StoredClient(ctx context.Context, clientID string) (*clients.Client, error) {
	spID, ok := strings.CutPrefix(clientID, ClientID(""))
	if !ok || p.reg.byID[spID] != nil || p.reg.stored == nil {
		return nil, nil
	}
	sp, err := p.reg.stored.byID(ctx, spID)
	if sp == nil || err != nil {
		return nil, err
	}
	c := clients.New(clients.Client{ID: clientID, Name: sp.DisplayName(), Trusted: sp.Trusted,
		AllowedConnectors: sp.AllowedConnectors, Source: clients.SourceAPI}, "")
	return &c, nil
}
