package samlidp

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"

	"github.com/gatehouse-id/gatehouse/config"
)

// NameID formats.
const (
	NameIDPersistent = "persistent"
	NameIDEmail      = "emailAddress"
	NameIDTransient  = "transient"
)

// Metadata cache policy for metadata_url.
const (
	metadataTTL      = time.Hour
	metadataRetry    = 30 * time.Second // after a failed fetch, wait this long before another
	metadataMaxBytes = 1 << 20
	metadataTimeout  = 10 * time.Second
)

// ErrUnknownSP is returned for a request from an entity that is not a configured SP.
var ErrUnknownSP = errors.New("samlidp: unknown service provider")

// ErrMetadataUnavailable is returned when an SP's metadata cannot be fetched and no earlier
// copy is cached.
var ErrMetadataUnavailable = errors.New("samlidp: service provider metadata unavailable")

// ServiceProvider is a configured SAML service provider.
type ServiceProvider struct {
	ID   string
	Name string
	// NameIDFormat is persistent, emailAddress or transient.
	NameIDFormat string
	// Attributes maps SAML attribute names to Gatehouse claim names.
	Attributes       map[string]string
	SignResponse     bool
	SignAssertion    bool
	EncryptAssertion bool
	Require          config.Requirement
	// AllowedConnectors limits the connectors its users may log in with (empty: all).
	AllowedConnectors []string
	Trusted           bool
	// MFAClasses are AuthnContextClassRefs the SP asks for to mean multi-factor (besides
	// ClassMFA, the REFEDS MFA profile).
	MFAClasses []string
	// Version is a stored SP's version (storage.ServiceProvider.Version); 0 for a configured one.
	Version int64

	// entityID is the SP's entity ID: configured (entity_id, required with metadata_url and
	// acs_url) or read from metadata_file. Fetched metadata must describe exactly this entity.
	entityID    string
	metadataURL string
	httpClient  *http.Client
	now         func() time.Time

	mu        sync.Mutex
	md        *saml.EntityDescriptor
	fetchedAt time.Time
	expires   time.Time
	failedAt  time.Time
	lastErr   error
}

// DisplayName is the SP's name, or its ID.
func (sp *ServiceProvider) DisplayName() string {
	if sp.Name != "" {
		return sp.Name
	}
	return sp.ID
}

// Metadata returns the SP's metadata, fetching it when it comes from a URL and is not cached
// or has expired. A failed refresh keeps the last good copy.
func (sp *ServiceProvider) Metadata(ctx context.Context) (*saml.EntityDescriptor, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.metadataURL == "" {
		return sp.md, nil
	}
	now := sp.now()
	if sp.md != nil && now.Before(sp.expires) {
		return sp.md, nil
	}
	if !sp.failedAt.IsZero() && now.Sub(sp.failedAt) < metadataRetry {
		if sp.md != nil {
			return sp.md, nil
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrMetadataUnavailable, sp.ID, sp.lastErr)
	}
	md, err := sp.fetch(ctx)
	if err != nil {
		sp.failedAt, sp.lastErr = now, err
		if sp.md != nil {
			return sp.md, nil
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrMetadataUnavailable, sp.ID, err)
	}
	if md.EntityID != sp.entityID {
		err := fmt.Errorf("metadata at %s is for entity %q, configured %q", sp.metadataURL, md.EntityID, sp.entityID)
		sp.failedAt, sp.lastErr = now, err
		return nil, fmt.Errorf("%w: %s: %w", ErrMetadataUnavailable, sp.ID, err)
	}
	ttl := metadataTTL
	if d := time.Duration(md.CacheDuration); d > 0 && d < ttl {
		ttl = max(d, time.Minute)
	}
	sp.md, sp.fetchedAt, sp.expires, sp.failedAt = md, now, now.Add(ttl), time.Time{}
	return md, nil
}

func (sp *ServiceProvider) fetch(ctx context.Context) (*saml.EntityDescriptor, error) {
	ctx, cancel := context.WithTimeout(ctx, metadataTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sp.metadataURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := sp.httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch metadata: %s answered %s", sp.metadataURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, metadataMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch metadata: %w", err)
	}
	if len(body) > metadataMaxBytes {
		return nil, fmt.Errorf("fetch metadata: larger than %d bytes", metadataMaxBytes)
	}
	return parseSPMetadata(body, sp.entityID)
}

// parseSPMetadata parses an EntityDescriptor, or picks the one of an EntitiesDescriptor whose
// entityID is entityID, exactly (with entityID "", the first one), and checks that it
// describes an SP.
func parseSPMetadata(data []byte, entityID string) (*saml.EntityDescriptor, error) {
	parse := samlsp.ParseMetadata
	if entityID != "" {
		parse = func(data []byte) (*saml.EntityDescriptor, error) {
			return samlsp.ParseMetadataByEntityID(data, entityID)
		}
	}
	md, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("parse metadata: %w", err)
	}
	if md.EntityID == "" || len(md.SPSSODescriptors) == 0 {
		return nil, errors.New("parse metadata: no entityID or no SPSSODescriptor")
	}
	return md, nil
}

// staticMetadata builds the metadata of an SP configured with entity_id + acs_url.
func staticMetadata(c config.ServiceProvider, cert *x509.Certificate) *saml.EntityDescriptor {
	yes := true
	sd := saml.SPSSODescriptor{
		SSODescriptor: saml.SSODescriptor{RoleDescriptor: saml.RoleDescriptor{
			ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol",
		}},
		AssertionConsumerServices: []saml.IndexedEndpoint{{Binding: saml.HTTPPostBinding, Location: c.ACSURL, Index: 1, IsDefault: &yes}},
	}
	if c.SLOURL != "" {
		sd.SingleLogoutServices = []saml.Endpoint{{Binding: saml.HTTPRedirectBinding, Location: c.SLOURL}}
	}
	if cert != nil {
		sd.KeyDescriptors = []saml.KeyDescriptor{{KeyInfo: saml.KeyInfo{X509Data: saml.X509Data{
			X509Certificates: []saml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(cert.Raw)}},
		}}}}
	}
	return &saml.EntityDescriptor{EntityID: c.EntityID, SPSSODescriptors: []saml.SPSSODescriptor{sd}}
}

// newServiceProvider builds an SP from its configuration, reading metadata_file and cert
// (local files) now; metadata_url is fetched on first use.
func newServiceProvider(c config.ServiceProvider, hc *http.Client, now func() time.Time) (*ServiceProvider, error) {
	var (
		mdData []byte
		cert   *x509.Certificate
		err    error
	)
	if c.MetadataFile != "" {
		if mdData, err = os.ReadFile(c.MetadataFile); err != nil {
			return nil, fmt.Errorf("samlidp: service provider %s: %w", c.ID, err)
		}
	}
	if c.ACSURL != "" && c.Cert != "" {
		if cert, err = readCertFile(c.Cert); err != nil {
			return nil, fmt.Errorf("samlidp: service provider %s: %w", c.ID, err)
		}
	}
	return buildServiceProvider(c, mdData, cert, hc, now)
}

// buildServiceProvider builds an SP from its configuration with the metadata document
// (mdData, for metadata_file or stored metadata) and the certificate (cert, with acs_url)
// already read.
func buildServiceProvider(c config.ServiceProvider, mdData []byte, cert *x509.Certificate, hc *http.Client, now func() time.Time) (*ServiceProvider, error) {
	sp := &ServiceProvider{
		ID: c.ID, Name: c.Name, NameIDFormat: c.NameIDFormat, Attributes: c.Attributes,
		SignResponse: c.SignResponse == nil || *c.SignResponse, SignAssertion: c.SignAssertion == nil || *c.SignAssertion,
		EncryptAssertion: c.EncryptAssertion, Require: c.Require, AllowedConnectors: c.AllowedConnectors, Trusted: c.Trusted,
		MFAClasses: c.MFAClasses,
		entityID:   c.EntityID, metadataURL: c.MetadataURL, httpClient: hc, now: now,
	}
	if sp.NameIDFormat == "" {
		sp.NameIDFormat = NameIDPersistent
	}
	if !sp.SignResponse && !sp.SignAssertion {
		return nil, fmt.Errorf("samlidp: service provider %s: sign_response or sign_assertion must be true", c.ID)
	}
	switch {
	case mdData != nil:
		md, err := parseSPMetadata(mdData, c.EntityID)
		if err != nil {
			where := c.MetadataFile
			if where == "" {
				where = "metadata"
			}
			return nil, fmt.Errorf("samlidp: service provider %s: %s: %w", c.ID, where, err)
		}
		sp.md, sp.entityID = md, md.EntityID
	case c.ACSURL != "":
		sp.md = staticMetadata(c, cert)
	case c.MetadataURL == "":
		return nil, fmt.Errorf("samlidp: service provider %s has no metadata_url, metadata_file or acs_url", c.ID)
	}
	if sp.EncryptAssertion && sp.md != nil {
		if _, _, err := encryptionCert(sp.md); err != nil {
			return nil, fmt.Errorf("samlidp: service provider %s: encrypt_assertion: %w", c.ID, err)
		}
	}
	return sp, nil
}

func readCertFile(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cert, err := parseCertPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cert, nil
}

// parseCertPEM parses the first PEM block of data, which must be a certificate.
func parseCertPEM(data []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// encryptionCert returns the SP's encryption certificate (a KeyDescriptor with use
// "encryption", else one without use) and the methods it lists.
func encryptionCert(md *saml.EntityDescriptor) (*x509.Certificate, []saml.EncryptionMethod, error) {
	for _, use := range []string{"encryption", ""} {
		for _, sd := range md.SPSSODescriptors {
			for _, kd := range sd.KeyDescriptors {
				if kd.Use != use {
					continue
				}
				for _, xc := range kd.KeyInfo.X509Data.X509Certificates {
					raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(xc.Data), ""))
					if err != nil || len(raw) == 0 {
						continue
					}
					cert, err := x509.ParseCertificate(raw)
					if err != nil {
						return nil, nil, fmt.Errorf("parse encryption certificate: %w", err)
					}
					return cert, kd.EncryptionMethods, nil
				}
			}
		}
	}
	return nil, nil, errors.New("the service provider's metadata has no encryption certificate")
}

// registry finds SPs by ID and by entity ID, each an exact one-to-one map; it implements
// saml.ServiceProviderProvider.
type registry struct {
	byID     map[string]*ServiceProvider
	byEntity map[string]*ServiceProvider
	order    []*ServiceProvider
	// stored are the SPs registered at runtime (nil: none), read on every lookup; a
	// configured SP hides a stored one of the same ID or entity ID.
	stored *storedSPs
}

// add registers an SP. Its entity ID must be known (configured, or read from metadata_file)
// and unique: a metadata_url SP's metadata may then only describe that entity, so no SP can
// answer for another.
func (r *registry) add(sp *ServiceProvider) error {
	if sp.entityID == "" {
		return fmt.Errorf("samlidp: service provider %s: entity_id is required (with metadata_url, the entity the metadata must describe)", sp.ID)
	}
	if _, dup := r.byID[sp.ID]; dup {
		return fmt.Errorf("samlidp: duplicate service provider id %q", sp.ID)
	}
	if other, dup := r.byEntity[sp.entityID]; dup {
		return fmt.Errorf("samlidp: service provider %s: duplicate entity ID %q (also service provider %s)", sp.ID, sp.entityID, other.ID)
	}
	r.byID[sp.ID] = sp
	r.byEntity[sp.entityID] = sp
	r.order = append(r.order, sp)
	return nil
}

// lookup returns the SP with exactly this entity ID and its metadata (fetched when it comes
// from a metadata_url, and then checked to describe that entity).
func (r *registry) lookup(ctx context.Context, entityID string) (*ServiceProvider, *saml.EntityDescriptor, error) {
	sp, ok := r.byEntity[entityID]
	if !ok && entityID != "" && r.stored != nil {
		var err error
		if sp, err = r.stored.byEntityID(ctx, entityID); err != nil {
			return nil, nil, err
		}
		ok = sp != nil
	}
	if !ok || entityID == "" {
		return nil, nil, fmt.Errorf("%w: %q", ErrUnknownSP, entityID)
	}
	md, err := sp.Metadata(ctx)
	if err != nil {
		return nil, nil, err
	}
	if md.EntityID != entityID {
		return nil, nil, fmt.Errorf("%w: %s: metadata is for entity %q, configured %q", ErrMetadataUnavailable, sp.ID, md.EntityID, entityID)
	}
	return sp, md, nil
}

// GetServiceProvider implements saml.ServiceProviderProvider.
func (r *registry) GetServiceProvider(req *http.Request, entityID string) (*saml.EntityDescriptor, error) {
	_, md, err := r.lookup(req.Context(), entityID)
	if errors.Is(err, ErrUnknownSP) {
		return nil, os.ErrNotExist
	}
	return md, err
}

// EntityID is the SP's entity ID (configured, or read from its metadata file).
func (sp *ServiceProvider) EntityID() string { return sp.entityID }
