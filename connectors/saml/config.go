package saml

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	csaml "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
)

// Defaults and limits of the configuration.
const (
	// DefaultClockSkew is the allowed clock skew when Config.AllowedClockSkew is zero.
	DefaultClockSkew = 90 * time.Second
	// MaxClockSkew is the largest allowed clock skew: crewjam/saml's own fixed bound, which it
	// applies before Gatehouse applies the configured (smaller or equal) one.
	MaxClockSkew = 180 * time.Second
	// DefaultMetadataRefresh is how often IdP metadata is fetched again when
	// Config.MetadataRefresh is zero.
	DefaultMetadataRefresh = 12 * time.Hour
	// MinMetadataRefresh is the smallest accepted Config.MetadataRefresh.
	MinMetadataRefresh = time.Minute
)

// Name ID formats accepted by name_id_format, by short name.
var nameIDFormats = map[string]csaml.NameIDFormat{
	"persistent":   csaml.PersistentNameIDFormat,
	"emailAddress": csaml.EmailAddressNameIDFormat,
	"transient":    csaml.TransientNameIDFormat,
	"unspecified":  csaml.UnspecifiedNameIDFormat,
}

// Authentication context classes that mean multi-factor authentication; an assertion with
// one of them gets "mfa" in its AMR unless Config.MFAAuthnContexts overrides the list.
var defaultMFAContexts = []string{
	"urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
	"urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered",
	"urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
	"http://schemas.microsoft.com/claims/multipleauthn",
	"https://refeds.org/profile/mfa",
}

// Config configures the SAML connector. It implements connectors.Config.
//
// The IdP is described by exactly one of: IDPMetadataURL, IDPMetadataFile, or the three
// fields IDPSSOURL, IDPEntityID and IDPCerts.
type Config struct {
	// IDPMetadataURL is where the IdP publishes its metadata. It is fetched lazily (never
	// in Open) and again every MetadataRefresh. It must be https, except on a loopback host.
	IDPMetadataURL string `yaml:"idp_metadata_url"`
	// IDPMetadataFile is a file holding the IdP metadata, read lazily and every MetadataRefresh.
	IDPMetadataFile string `yaml:"idp_metadata_file"`
	// IDPMetadataEntityID picks the IdP out of a metadata aggregate (EntitiesDescriptor).
	IDPMetadataEntityID string `yaml:"idp_metadata_entity_id"`
	// IDPMetadataCerts, if set, are certificates (PEM or PEM file) one of which must have
	// signed the metadata document; unsigned metadata is then refused.
	IDPMetadataCerts []string `yaml:"idp_metadata_certs"`
	// MetadataRefresh is how often the metadata is read again; zero means DefaultMetadataRefresh.
	MetadataRefresh time.Duration `yaml:"metadata_refresh"`

	// IDPSSOURL, IDPEntityID and IDPCerts describe the IdP without metadata.
	IDPSSOURL   string `yaml:"idp_sso_url"`
	IDPEntityID string `yaml:"idp_entity_id"`
	// IDPCerts are the IdP's signing certificates, each a PEM block or a PEM file path.
	IDPCerts []string `yaml:"idp_certs"`
	// IDPSSOBinding is the binding the SSO URL takes without metadata: redirect (default) or post.
	IDPSSOBinding string `yaml:"idp_sso_binding"`

	// EntityID is the SP entity ID; empty means {issuer}/saml/sp/{id}/metadata.
	EntityID string `yaml:"entity_id"`
	// SignRequests signs AuthnRequests with SPKey, or, without SPKey and SPCert, with an RSA
	// key pair Gatehouse generates, keeps in storage (shared by every replica), publishes in
	// the SP metadata and replaces every SPKeyRotation.
	SignRequests bool `yaml:"sign_requests"`
	// SPKey and SPCert are the SP's private key and certificate (PEM or PEM file). When set,
	// the certificate is published in the SP metadata for encryption (RSA keys) and, with
	// SignRequests, for signing; encrypted assertions are decrypted with the key.
	SPKey  string `yaml:"sp_key" secret:"file"`
	SPCert string `yaml:"sp_cert"`
	// SPKeyRotation is how long a generated SP key signs before the next one replaces it;
	// zero means DefaultSPKeyRotation (365 days), at least MinSPKeyRotation. Only with
	// sign_requests and no sp_key/sp_cert. Changing it starts a new schedule with a new key.
	SPKeyRotation time.Duration `yaml:"sp_key_rotation"`
	// SPKeyGrace is how long before a rotation the next generated certificate is published in
	// the SP metadata (for signing), and how long after it the replaced one stays there (for
	// signing) and its key still decrypts assertions, so an IdP has time to fetch the new
	// metadata; zero means DefaultSPKeyGrace (30 days) capped at half of SPKeyRotation. It
	// must be shorter than SPKeyRotation.
	SPKeyGrace time.Duration `yaml:"sp_key_grace"`
	// SPPreviousKeys are older RSA keys (PEM or file) still accepted for decryption while the
	// IdP moves to a new SPCert.
	SPPreviousKeys []string `yaml:"sp_previous_keys"`

	// NameIDFormat is requested in AuthnRequests: persistent (default), emailAddress,
	// transient, unspecified, or a full URN.
	NameIDFormat string `yaml:"name_id_format"`
	// Attributes maps upstream identity fields to assertion attribute names.
	Attributes AttributeMap `yaml:"attributes"`
	// TrustEmail reports the asserted email as verified (default false): set it only when
	// the IdP's email attribute is one its users cannot choose. Without it, linking by
	// verified email and email-domain requirements are refused for this connector.
	TrustEmail bool `yaml:"trust_email"`
	// EmailVerified is the former name of TrustEmail (deprecated; same meaning).
	EmailVerified bool `yaml:"email_verified"`
	// MFAAuthnContexts are the AuthnContextClassRefs that mean multi-factor authentication;
	// empty means a built-in list (MobileTwoFactor*, TimeSyncToken, Entra multipleauthn, REFEDS MFA).
	MFAAuthnContexts []string `yaml:"mfa_authn_contexts"`

	// AllowedClockSkew is the clock difference tolerated on NotBefore, NotOnOrAfter and
	// IssueInstant; zero means DefaultClockSkew, at most MaxClockSkew.
	AllowedClockSkew time.Duration `yaml:"allowed_clock_skew"`
	// AllowIDPInitiated accepts unsolicited responses (no InResponseTo). Off by default.
	AllowIDPInitiated bool `yaml:"allow_idp_initiated"`
	// AllowSHA1 accepts IdP signatures made with SHA-1. Off by default.
	AllowSHA1 bool `yaml:"allow_sha1"`
	// ReplayCacheSize bounds the remembered assertion IDs when the broker passes no shared
	// replay cache (serve always passes the storage-backed one); zero means 100000.
	ReplayCacheSize int `yaml:"replay_cache_size"`
}

// AttributeMap names the assertion attributes (by Name, or FriendlyName when no attribute
// has that Name) that fill the upstream identity. An empty field uses common defaults
// (email: email, mail, the LDAP mail OID and the WS-Fed emailaddress claim; and so on).
type AttributeMap struct {
	// Subject, if set, is a single-valued attribute used as the stable user ID instead of
	// the NameID. It is required with transient NameIDs.
	Subject  string `yaml:"subject"`
	Email    string `yaml:"email"`
	Name     string `yaml:"name"`
	Username string `yaml:"username"`
	// Groups is a multi-valued attribute whose values become the user's groups.
	Groups string `yaml:"groups"`
}

var _ connectors.Config = (*Config)(nil)

func isPEM(s string) bool { return strings.Contains(s, "-----BEGIN ") }

// Validate reports every problem with the configuration. It does no I/O: values that are
// file paths are only checked for being non-empty; inline PEM is parsed.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	sources := 0
	if c.IDPMetadataURL != "" {
		sources++
		if err := checkMetadataURL(c.IDPMetadataURL); err != nil {
			add("idp_metadata_url: %v", err)
		}
	}
	if c.IDPMetadataFile != "" {
		sources++
	}
	static := c.IDPSSOURL != "" || c.IDPEntityID != "" || len(c.IDPCerts) > 0
	if static {
		sources++
		if c.IDPSSOURL == "" || c.IDPEntityID == "" || len(c.IDPCerts) == 0 {
			add("idp_sso_url, idp_entity_id and idp_certs: all three are needed without metadata")
		}
		if c.IDPSSOURL != "" {
			if u, err := url.Parse(c.IDPSSOURL); err != nil || !u.IsAbs() || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				add("idp_sso_url: must be an absolute http(s) URL")
			}
		}
		for i, s := range c.IDPCerts {
			if err := checkCertValue(s); err != nil {
				add("idp_certs[%d]: %v", i, err)
			}
		}
	}
	switch {
	case sources == 0:
		add("no IdP: set idp_metadata_url, idp_metadata_file, or idp_sso_url + idp_entity_id + idp_certs")
	case sources > 1:
		add("idp_metadata_url, idp_metadata_file and idp_sso_url/idp_entity_id/idp_certs are alternatives: set only one")
	}
	if !slices.Contains([]string{"", "redirect", "post"}, c.IDPSSOBinding) {
		add("idp_sso_binding: %q is not redirect or post", c.IDPSSOBinding)
	}
	if c.IDPSSOBinding != "" && !static {
		add("idp_sso_binding: only used with idp_sso_url (the metadata names the bindings)")
	}
	if c.IDPMetadataEntityID != "" && c.IDPMetadataURL == "" && c.IDPMetadataFile == "" {
		add("idp_metadata_entity_id: only used with idp_metadata_url or idp_metadata_file")
	}
	if len(c.IDPMetadataCerts) > 0 && c.IDPMetadataURL == "" && c.IDPMetadataFile == "" {
		add("idp_metadata_certs: only used with idp_metadata_url or idp_metadata_file")
	}
	for i, s := range c.IDPMetadataCerts {
		if err := checkCertValue(s); err != nil {
			add("idp_metadata_certs[%d]: %v", i, err)
		}
	}
	if c.MetadataRefresh != 0 && c.MetadataRefresh < MinMetadataRefresh {
		add("metadata_refresh: %s is shorter than %s", c.MetadataRefresh, MinMetadataRefresh)
	}

	if c.EntityID != "" && strings.TrimSpace(c.EntityID) != c.EntityID {
		add("entity_id: has leading or trailing spaces")
	}
	if (c.SPKey == "") != (c.SPCert == "") {
		add("sp_key and sp_cert: set both or neither")
	}
	c.validateKeyRotation(add)
	if isPEM(c.SPKey) {
		if _, err := parseKey([]byte(c.SPKey)); err != nil {
			add("sp_key: %v", err)
		}
	}
	if c.SPCert != "" {
		if err := checkCertValue(c.SPCert); err != nil {
			add("sp_cert: %v", err)
		}
	}
	for i, s := range c.SPPreviousKeys {
		if s == "" {
			add("sp_previous_keys[%d]: empty", i)
		} else if isPEM(s) {
			if _, err := parseRSAKey([]byte(s)); err != nil {
				add("sp_previous_keys[%d]: %v", i, err)
			}
		}
	}

	format, err := c.nameIDFormat()
	if err != nil {
		add("name_id_format: %v", err)
	}
	if format == csaml.TransientNameIDFormat && c.Attributes.Subject == "" {
		add("name_id_format: transient NameIDs change at every login; set attributes.subject to a stable attribute")
	}
	if c.AllowedClockSkew < 0 || c.AllowedClockSkew > MaxClockSkew {
		add("allowed_clock_skew: %s is outside [0s, %s]", c.AllowedClockSkew, MaxClockSkew)
	}
	if c.ReplayCacheSize < 0 {
		add("replay_cache_size: negative")
	}
	for i, s := range c.MFAAuthnContexts {
		if s == "" {
			add("mfa_authn_contexts[%d]: empty", i)
		}
	}
	return errors.Join(errs...)
}

// generatesKey reports whether the SP key is generated and kept in storage: sign_requests
// without sp_key and sp_cert.
func (c *Config) generatesKey() bool { return c.SignRequests && c.SPKey == "" && c.SPCert == "" }

// validateKeyRotation checks sp_key_rotation and sp_key_grace.
func (c *Config) validateKeyRotation(add func(string, ...any)) {
	if !c.generatesKey() {
		if c.SPKeyRotation != 0 {
			add("sp_key_rotation: only used with a generated SP key (sign_requests without sp_key and sp_cert)")
		}
		if c.SPKeyGrace != 0 {
			add("sp_key_grace: only used with a generated SP key (sign_requests without sp_key and sp_cert)")
		}
		return
	}
	if c.SPKeyRotation < 0 || (c.SPKeyRotation != 0 && c.SPKeyRotation < MinSPKeyRotation) {
		add("sp_key_rotation: %s is shorter than %s", c.SPKeyRotation, MinSPKeyRotation)
	}
	if c.SPKeyGrace < 0 {
		add("sp_key_grace: negative")
	}
	if rot := c.keyRotation(); c.SPKeyGrace >= rot {
		add("sp_key_grace: %s is not shorter than sp_key_rotation (%s)", c.SPKeyGrace, rot)
	}
}

// keyRotation is the effective sp_key_rotation.
func (c *Config) keyRotation() time.Duration {
	if c.SPKeyRotation == 0 {
		return DefaultSPKeyRotation
	}
	return c.SPKeyRotation
}

// keyGrace is the effective sp_key_grace.
func (c *Config) keyGrace() time.Duration {
	if c.SPKeyGrace == 0 {
		return min(DefaultSPKeyGrace, c.keyRotation()/2)
	}
	return c.SPKeyGrace
}

func (c *Config) nameIDFormat() (csaml.NameIDFormat, error) {
	if c.NameIDFormat == "" {
		return csaml.PersistentNameIDFormat, nil
	}
	if f, ok := nameIDFormats[c.NameIDFormat]; ok {
		return f, nil
	}
	if strings.HasPrefix(c.NameIDFormat, "urn:") {
		return csaml.NameIDFormat(c.NameIDFormat), nil
	}
	return "", fmt.Errorf("%q is not persistent, emailAddress, transient, unspecified or a urn", c.NameIDFormat)
}

func checkMetadataURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("must be an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("must be https (http is accepted only on a loopback host): the metadata carries the keys that are trusted")
	}
	return fmt.Errorf("scheme %q is not https", u.Scheme)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkCertValue checks an inline PEM certificate, or that a path is not empty.
func checkCertValue(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if isPEM(s) {
		_, err := parseCerts([]byte(s))
		return err
	}
	return nil
}

// readPEM returns s itself when it is PEM, else the content of the file s names.
func readPEM(s string) ([]byte, error) {
	if isPEM(s) {
		return []byte(s), nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s, err)
	}
	return b, nil
}

func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return certs, nil
}

func parseKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not a PKCS#1, SEC 1 or PKCS#8 private key")
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported key type %T (RSA or ECDSA only)", k)
}

func parseRSAKey(b []byte) (*rsa.PrivateKey, error) {
	k, err := parseKey(b)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key (only RSA keys can decrypt)")
	}
	return rk, nil
}

// deriveIssuer turns the callback URL {issuer}/callback/{id} (or the dedicated ACS URL
// {issuer}/saml/sp/{id}/acs) into the issuer.
func deriveIssuer(callbackURL, id string) (string, error) {
	for _, suffix := range []string{"/callback/" + url.PathEscape(id), "/callback/" + id, "/saml/sp/" + url.PathEscape(id) + "/acs"} {
		if strings.HasSuffix(callbackURL, suffix) {
			return strings.TrimSuffix(callbackURL, suffix), nil
		}
	}
	return "", fmt.Errorf("callback URL %q does not end in /callback/%s", callbackURL, id)
}

// VerifiesEmail implements connectors.EmailVerifier: only with trust_email (or its
// deprecated name email_verified).
func (c *Config) VerifiesEmail() (bool, string) {
	return c.TrustEmail || c.EmailVerified, "trust_email"
}

// Open builds the connector. It reads the local key and certificate files but does no
// network or storage I/O: IdP metadata is fetched, and a generated SP key read or created,
// on first use.
func (c *Config) Open(ctx context.Context, info connectors.Info, deps connectors.Deps) (connectors.Connector, error) {
	fail := func(err error) (connectors.Connector, error) {
		return nil, fmt.Errorf("saml connector %q: %w", info.ID, err)
	}
	if err := c.Validate(); err != nil {
		return fail(err)
	}
	if deps.CallbackURL == "" {
		return fail(errors.New("no callback URL"))
	}
	acs, err := url.Parse(deps.CallbackURL)
	if err != nil || !acs.IsAbs() {
		return fail(fmt.Errorf("callback URL %q is not absolute", deps.CallbackURL))
	}
	issuer, err := deriveIssuer(deps.CallbackURL, info.ID)
	if err != nil {
		return fail(err)
	}
	metadataURL, err := url.Parse(issuer + "/saml/sp/" + url.PathEscape(info.ID) + "/metadata")
	if err != nil {
		return fail(err)
	}
	entityID := c.EntityID
	if entityID == "" {
		entityID = metadataURL.String()
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("connector", info.ID)
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	client := deps.HTTP
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	client = httpx.BoundedClient(client)
	format, _ := c.nameIDFormat() //nolint:errcheck // Validate already refused an unknown name_id_format
	skew := c.AllowedClockSkew
	if skew == 0 {
		skew = DefaultClockSkew
	}
	refresh := c.MetadataRefresh
	if refresh == 0 {
		refresh = DefaultMetadataRefresh
	}
	cacheSize := c.ReplayCacheSize
	if cacheSize == 0 {
		cacheSize = 100_000
	}

	var slo url.URL
	var sloBindings []string
	if deps.UpstreamLogout { // published in the SP metadata only then
		u, err := url.Parse(issuer + "/saml/sp/" + url.PathEscape(info.ID) + "/slo")
		if err != nil {
			return fail(err)
		}
		slo, sloBindings = *u, []string{csaml.HTTPRedirectBinding, csaml.HTTPPostBinding}
	}
	sp := csaml.ServiceProvider{
		SloURL:                           slo,
		LogoutBindings:                   sloBindings,
		EntityID:                         entityID,
		MetadataURL:                      *metadataURL,
		AcsURL:                           *acs,
		AuthnNameIDFormat:                format,
		AllowIDPInitiated:                c.AllowIDPInitiated,
		AssertionConsumerServiceBindings: []string{csaml.HTTPPostBinding},
		RejectSHA1Signatures:             !c.AllowSHA1,
		Clock:                            dsig.NewFakeClock(newNowClock(now)),
		ReplayCache:                      replayCacheFor(deps, cacheSize, now),
		HTTPClient:                       client,
	}
	if c.SPKey != "" {
		keyPEM, err := readPEM(c.SPKey)
		if err != nil {
			return fail(fmt.Errorf("sp_key: %w", err))
		}
		key, err := parseKey(keyPEM)
		if err != nil {
			return fail(fmt.Errorf("sp_key: %w", err))
		}
		certPEM, err := readPEM(c.SPCert)
		if err != nil {
			return fail(fmt.Errorf("sp_cert: %w", err))
		}
		certs, err := parseCerts(certPEM)
		if err != nil {
			return fail(fmt.Errorf("sp_cert: %w", err))
		}
		if !publicKeysEqual(certs[0].PublicKey, key.Public()) {
			return fail(errors.New("sp_cert does not match sp_key"))
		}
		sp.Key, sp.Certificate, sp.Intermediates = key, certs[0], certs[1:]
		if c.SignRequests {
			switch key.(type) {
			case *rsa.PrivateKey:
				sp.SignatureMethod = dsig.RSASHA256SignatureMethod
			case *ecdsa.PrivateKey:
				sp.SignatureMethod = dsig.ECDSASHA256SignatureMethod
			}
		}
	}
	var ring *keyRing
	if c.generatesKey() {
		if deps.Keys == nil {
			return fail(errors.New("sign_requests without sp_key/sp_cert: the storage backend cannot keep a generated SP key; set sp_key and sp_cert"))
		}
		ring = &keyRing{
			store: deps.Keys, period: c.keyRotation(), grace: c.keyGrace(), subject: entityID, now: now,
			generate: generateKeyPair, logger: logger,
		}
		sp.SignatureMethod = dsig.RSASHA256SignatureMethod
	}
	for i, s := range c.SPPreviousKeys {
		b, err := readPEM(s)
		if err != nil {
			return fail(fmt.Errorf("sp_previous_keys[%d]: %w", i, err))
		}
		k, err := parseRSAKey(b)
		if err != nil {
			return fail(fmt.Errorf("sp_previous_keys[%d]: %w", i, err))
		}
		sp.DecryptionKeys = append(sp.DecryptionKeys, k)
	}

	var metaCerts []*x509.Certificate
	for i, s := range c.IDPMetadataCerts {
		b, err := readPEM(s)
		if err != nil {
			return fail(fmt.Errorf("idp_metadata_certs[%d]: %w", i, err))
		}
		certs, err := parseCerts(b)
		if err != nil {
			return fail(fmt.Errorf("idp_metadata_certs[%d]: %w", i, err))
		}
		metaCerts = append(metaCerts, certs...)
	}
	src := &idpSource{refresh: refresh, retry: 5 * time.Second, now: now, logger: logger}
	switch {
	case c.IDPMetadataURL != "":
		u := c.IDPMetadataURL
		src.load = func(ctx context.Context) ([]byte, error) { return fetchMetadata(ctx, client, u) }
	case c.IDPMetadataFile != "":
		f := c.IDPMetadataFile
		src.load = func(context.Context) ([]byte, error) { return readMetadataFile(f) }
	default:
		ed, err := c.staticDescriptor()
		if err != nil {
			return fail(err)
		}
		src.static = ed
	}
	src.parse = func(b []byte) (*csaml.EntityDescriptor, error) {
		return parseIDPMetadata(b, c.IDPMetadataEntityID, metaCerts)
	}

	mfa := c.MFAAuthnContexts
	if len(mfa) == 0 {
		mfa = defaultMFAContexts
	}
	return &Connector{
		info:          info,
		base:          sp,
		ring:          ring,
		src:           src,
		logger:        logger,
		now:           now,
		skew:          skew,
		attrs:         c.Attributes,
		format:        format,
		emailVerified: c.TrustEmail || c.EmailVerified,
		mfa:           slices.Clone(mfa),
		allowIDPInit:  c.AllowIDPInitiated,
	}, nil
}

// staticDescriptor builds IdP metadata from idp_sso_url, idp_entity_id and idp_certs.
func (c *Config) staticDescriptor() (*csaml.EntityDescriptor, error) {
	var kds []csaml.KeyDescriptor
	for i, s := range c.IDPCerts {
		b, err := readPEM(s)
		if err != nil {
			return nil, fmt.Errorf("idp_certs[%d]: %w", i, err)
		}
		certs, err := parseCerts(b)
		if err != nil {
			return nil, fmt.Errorf("idp_certs[%d]: %w", i, err)
		}
		for _, cert := range certs {
			kds = append(kds, csaml.KeyDescriptor{Use: "signing", KeyInfo: csaml.KeyInfo{X509Data: csaml.X509Data{
				X509Certificates: []csaml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(cert.Raw)}},
			}}})
		}
	}
	binding := csaml.HTTPRedirectBinding
	if c.IDPSSOBinding == "post" {
		binding = csaml.HTTPPostBinding
	}
	return &csaml.EntityDescriptor{
		EntityID: c.IDPEntityID,
		IDPSSODescriptors: []csaml.IDPSSODescriptor{{
			SSODescriptor: csaml.SSODescriptor{RoleDescriptor: csaml.RoleDescriptor{
				ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol",
				KeyDescriptors:             kds,
			}},
			SingleSignOnServices: []csaml.Endpoint{{Binding: binding, Location: c.IDPSSOURL}},
		}},
	}, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}
