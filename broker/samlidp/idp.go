package samlidp

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/logger"
	"github.com/crewjam/saml/samlsp"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Options configure an IdP.
type Options struct {
	// BaseURL is the issuer; the endpoints are BaseURL/saml/idp/{metadata,sso,slo}.
	BaseURL string
	// EntityID defaults to BaseURL/saml/idp/metadata.
	EntityID string
	// Key is the IdP's RSA key (from files or storage), or nil when Signer is set.
	Key *rsa.PrivateKey
	// Signer is the IdP's RSA key kept in a token (signing.backend: pkcs11), used when Key
	// is nil: assertions, responses and logout messages are signed through it.
	Signer crypto.Signer
	// Cert is the certificate of the key, published in the metadata.
	Cert *x509.Certificate
	// ServiceProviders is the configuration's service_providers.
	ServiceProviders []config.ServiceProvider
	// AssertionLifetime is the validity window of assertions (default 5 minutes).
	AssertionLifetime time.Duration
	// PersistentSalt is mixed into persistent NameIDs (the configuration's pairwise_salt);
	// changing it changes every persistent NameID.
	PersistentSalt string
	// HTTP fetches metadata_url (default: a client with a 10 s timeout).
	HTTP   *http.Client
	Logger *slog.Logger
	Now    func() time.Time
	// ReplayCache records the IDs of accepted signed AuthnRequests and LogoutRequests, shared
	// by every replica (cmd/gatehouse passes a storage-backed one); nil: in memory, per
	// process.
	ReplayCache saml.AssertionReplayCache
	// Store keeps the SPs registered at runtime (the admin API); nil: only the configured
	// ones. They are read from it on every request, so a change on any replica counts at once.
	Store storage.ServiceProviderStore
}

// IdP is the SAML identity provider.
type IdP struct {
	opts     Options
	entityID string
	ssoURL   string
	sloURL   string
	idp      *saml.IdentityProvider
	reg      *registry
	// transientKey keys transient NameIDs (transientNameID).
	transientKey []byte
	// signer is Key or Signer.
	signer crypto.Signer
}

// New builds the IdP, reading SP metadata files and certificates (metadata URLs are fetched
// on first use).
func New(o Options) (*IdP, error) {
	var signer crypto.Signer = o.Key
	if o.Key == nil {
		signer = o.Signer
	}
	if signer == nil || o.Cert == nil {
		return nil, errors.New("samlidp: a key and a certificate are required")
	}
	if pub, ok := signer.Public().(*rsa.PublicKey); !ok || !pub.Equal(o.Cert.PublicKey) {
		return nil, errors.New("samlidp: the key is not the RSA key of the certificate")
	}
	tk, err := transientKey(o.Key, signer)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: metadataTimeout}
	}
	o.HTTP = httpx.BoundedClient(o.HTTP) // metadata_url documents: capped, timed out
	if o.AssertionLifetime <= 0 {
		o.AssertionLifetime = 5 * time.Minute
	}
	base := strings.TrimSuffix(o.BaseURL, "/")
	p := &IdP{opts: o, entityID: o.EntityID, ssoURL: base + "/saml/idp/sso", sloURL: base + "/saml/idp/slo", transientKey: tk, signer: signer}
	if p.entityID == "" {
		p.entityID = base + "/saml/idp/metadata"
	}
	entity, err := url.Parse(p.entityID)
	if err != nil {
		return nil, fmt.Errorf("samlidp: entity ID: %w", err)
	}
	sso, err := url.Parse(p.ssoURL)
	if err != nil {
		return nil, fmt.Errorf("samlidp: base URL: %w", err)
	}
	slo, _ := url.Parse(p.sloURL) //nolint:errcheck // built from the base URL parsed just above
	p.reg = &registry{byID: map[string]*ServiceProvider{}, byEntity: map[string]*ServiceProvider{}}
	if o.Store != nil {
		p.reg.stored = &storedSPs{store: o.Store, now: o.Now, built: map[string]*ServiceProvider{}}
	}
	for _, c := range o.ServiceProviders {
		sp, err := newServiceProvider(c, o.HTTP, o.Now)
		if err != nil {
			return nil, err
		}
		if err := p.reg.add(sp); err != nil {
			return nil, err
		}
	}
	validity := o.AssertionLifetime
	replay := o.ReplayCache
	if replay == nil {
		replay = samlsp.NewMemoryReplayCache(100000)
	}
	p.idp = &saml.IdentityProvider{
		Key: o.Key, Signer: o.Signer, Certificate: o.Cert, Logger: slogPrinter{o.Logger},
		MetadataURL: *entity, SSOURL: *sso, LogoutURL: *slo,
		ServiceProviderProvider: p.reg,
		SignatureMethod:         dsig.RSASHA256SignatureMethod,
		ValidDuration:           &validity,
		NameIDFormats:           []saml.NameIDFormat{saml.PersistentNameIDFormat, saml.EmailAddressNameIDFormat, saml.TransientNameIDFormat},
		LogoutBindings:          []string{saml.HTTPRedirectBinding, saml.HTTPPostBinding},
		// Signed AuthnRequests and LogoutRequests are accepted once, across replicas.
		ReplayCache: replay,
	}
	return p, nil
}

// slogPrinter adapts slog to crewjam's logger interface.
type slogPrinter struct{ l *slog.Logger }

var _ logger.Interface = slogPrinter{}

func (s slogPrinter) Printf(format string, v ...any) { s.l.Warn("saml: " + fmt.Sprintf(format, v...)) }
func (s slogPrinter) Print(v ...any)                 { s.l.Warn("saml: " + fmt.Sprint(v...)) }
func (s slogPrinter) Println(v ...any)               { s.l.Warn("saml: " + fmt.Sprint(v...)) }
func (s slogPrinter) Fatal(v ...any)                 { s.l.Error("saml: " + fmt.Sprint(v...)) }
func (s slogPrinter) Fatalf(format string, v ...any) { s.l.Error("saml: " + fmt.Sprintf(format, v...)) }
func (s slogPrinter) Fatalln(v ...any)               { s.l.Error("saml: " + fmt.Sprint(v...)) }
func (s slogPrinter) Panic(v ...any)                 { s.l.Error("saml: " + fmt.Sprint(v...)) }
func (s slogPrinter) Panicf(format string, v ...any) { s.l.Error("saml: " + fmt.Sprintf(format, v...)) }
func (s slogPrinter) Panicln(v ...any)               { s.l.Error("saml: " + fmt.Sprint(v...)) }

// EntityID is the IdP's entity ID.
func (p *IdP) EntityID() string { return p.entityID }

// Certificate is the IdP's signing certificate.
func (p *IdP) Certificate() *x509.Certificate { return p.opts.Cert }

// ServiceProviders lists the configured SPs in configuration order (not the stored ones).
func (p *IdP) ServiceProviders() []*ServiceProvider { return p.reg.order }

// ServiceProvider returns the configured SP with the ID, or nil (LookupServiceProvider also
// finds the stored ones).
func (p *IdP) ServiceProvider(id string) *ServiceProvider { return p.reg.byID[id] }

// MetadataXML renders the IdP's metadata: entity ID, signing certificate, SSO (Redirect and
// POST) and SLO (Redirect and POST) endpoints, NameID formats.
func (p *IdP) MetadataXML() ([]byte, error) {
	md := p.idp.Metadata()
	md.ValidUntil = p.opts.Now().Add(48 * time.Hour)
	b, err := xml.MarshalIndent(md, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("samlidp: metadata: %w", err)
	}
	return append([]byte(xml.Header), b...), nil
}

// signingContext signs with the IdP key (RSA-SHA256, exclusive C14N).
func (p *IdP) signingContext() (*dsig.SigningContext, error) {
	sc, err := dsig.NewSigningContext(p.signer, [][]byte{p.opts.Cert.Raw})
	if err != nil {
		return nil, fmt.Errorf("samlidp: signing context: %w", err)
	}
	sc.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := sc.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return nil, fmt.Errorf("samlidp: signature method: %w", err)
	}
	return sc, nil
}

// spFor returns the SP and metadata for an entity ID.
func (p *IdP) spFor(ctx context.Context, entityID string) (*ServiceProvider, *saml.EntityDescriptor, error) {
	return p.reg.lookup(ctx, entityID)
}
