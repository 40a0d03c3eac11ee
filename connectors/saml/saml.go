// Package saml is Gatehouse's SAML 2.0 connector: Gatehouse acts as a SAML service provider
// (SP) towards an upstream identity provider (ADFS, Okta, Entra ID, Shibboleth, ...) and turns
// its assertions into an upstream identity. It uses github.com/crewjam/saml's ServiceProvider
// directly (not samlsp: the broker owns sessions and cookies).
//
// # Flow
//
// Begin builds an AuthnRequest (signed when sign_requests is set) and sends the browser to
// the IdP with the HTTP-Redirect binding, or with an auto-submitted HTTP-POST form when the
// IdP only offers that. RelayState is the broker's state; the AuthnRequest ID goes into the
// step's stash, which the broker keeps with the login. The IdP POSTs its Response to the
// assertion consumer service, which is the broker's callback URL ({issuer}/callback/{id});
// Finish validates it against the stashed request ID.
//
// # What Finish checks
//
// Through crewjam/saml (and goxmldsig): a valid XML signature on the Response or on the
// Assertion by a certificate from the IdP metadata (signature wrapping is defeated by reading
// only what the signature covers); decryption of an EncryptedAssertion with the SP key;
// Destination, Recipient, Audience, Issuer, InResponseTo (the stashed AuthnRequest ID; an
// unsolicited response is refused unless allow_idp_initiated), NotBefore/NotOnOrAfter;
// SHA-1 signatures are refused unless allow_sha1. The connector then applies
// allowed_clock_skew (crewjam's own bound is a fixed 180s) and refuses a replayed assertion
// ID for as long as it would be valid, in the replay cache the broker passes in Deps (shared
// by every replica through storage; without one, a bounded in-memory cache per process). The
// HTTP-Artifact binding is not accepted (it would make the ACS call out to the IdP).
//
// Errors never show crewjam's private detail or the XML: Finish logs the precise reason
// (InvalidResponseError.PrivateErr) for the operator and returns a *ResponseError whose
// message is a short, safe description.
//
// # Identity
//
// The subject is the NameID (persistent by default; a transient one is refused) or the
// attribute named by attributes.subject. Attributes fill email, name, username and groups
// (all values of the groups attribute); every attribute is kept in Upstream.Attrs. The
// AuthnStatement gives AuthTime (AuthnInstant) and ACR (AuthnContextClassRef); AMR is
// ["fed"], plus "mfa" when the class is one of mfa_authn_contexts.
//
// # Refresh
//
// SAML has no way to ask the IdP about a user again, so the connector does not implement
// connectors.RefreshConnector: the broker re-issues tokens on refresh from the stored identity,
// within the session and refresh-token lifetimes.
//
// # SP metadata and keys
//
// Metadata returns the SP metadata document an IdP administrator imports. The SP key and
// certificate come from sp_key/sp_cert. With sign_requests and neither of them, Gatehouse
// generates an RSA key with a self-signed certificate and keeps it in storage through
// connectors.Deps.Keys, so every replica signs with the same key (the first replica to store
// one wins). It is replaced every sp_key_rotation (default 365 days). The next key is
// generated and its certificate published sp_key_grace (default 30 days, at most half the
// rotation) before it starts signing, so an IdP that re-reads the SP metadata trusts it in
// time; after the rotation the replaced certificate stays in the metadata, and its key still
// decrypts assertions encrypted to it, for sp_key_grace; then it is dropped. An IdP that does
// not read SP metadata by itself must be given the next certificate within that window.
// Without a key, no encryption key is published, so the IdP does not encrypt assertions.
package saml

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
	csaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// maxResponseSize bounds the base64 SAMLResponse form value.
const maxResponseSize = 1 << 20

// MetadataContentType is the media type of the document Metadata returns.
const MetadataContentType = "application/samlmetadata+xml"

// MetadataProvider is implemented by connectors that publish SAML SP metadata; the broker
// serves it at {issuer}/saml/sp/{id}/metadata.
type MetadataProvider interface {
	Metadata(ctx context.Context) ([]byte, error)
}

// Connector is an opened SAML connector.
type Connector struct {
	info          connectors.Info
	base          csaml.ServiceProvider // without IDPMetadata; copied per metadata generation
	ring          *keyRing              // the generated SP key; nil with sp_key or without signing
	src           *idpSource
	logger        *slog.Logger
	now           func() time.Time
	skew          time.Duration
	attrs         AttributeMap
	format        csaml.NameIDFormat
	emailVerified bool
	mfa           []string
	allowIDPInit  bool

	mu     sync.Mutex
	sp     *csaml.ServiceProvider
	spGen  uint64
	spKeys *spKeys
}

// Interface guards.
var (
	_ connectors.RedirectConnector = (*Connector)(nil)
	_ connectors.HealthChecker     = (*Connector)(nil)
	_ MetadataProvider             = (*Connector)(nil)
)

// Info returns the connector's identity.
func (c *Connector) Info() connectors.Info { return c.info }

// Close releases nothing; it exists to satisfy connectors.Connector.
func (c *Connector) Close() error { return nil }

// ACSURL is the assertion consumer service URL given to the IdP (the broker's callback URL).
func (c *Connector) ACSURL() string { return c.base.AcsURL.String() }

// EntityID is the SP entity ID.
func (c *Connector) EntityID() string { return c.base.EntityID }

// Metadata returns the SP metadata (an EntityDescriptor) for the IdP administrator to import.
// With a generated SP key it lists the key in force and, for signing only (the IdP encrypts
// to the key in force), the next certificate during the grace period before a rotation and
// the replaced one during the grace period after it.
func (c *Connector) Metadata(ctx context.Context) ([]byte, error) {
	keys, err := c.keys(ctx)
	if err != nil {
		return nil, err
	}
	sp := c.withKeys(keys)
	ed := sp.Metadata()
	if keys != nil && len(ed.SPSSODescriptors) > 0 {
		d := &ed.SPSSODescriptors[0]
		for _, p := range []*keyPair{keys.next, keys.prev} {
			if p != nil {
				d.KeyDescriptors = append(d.KeyDescriptors, csaml.KeyDescriptor{Use: "signing", KeyInfo: csaml.KeyInfo{
					X509Data: csaml.X509Data{X509Certificates: []csaml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(p.cert.Raw)}}},
				}})
			}
		}
	}
	b, err := xml.MarshalIndent(ed, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("saml: marshal SP metadata: %w", err)
	}
	return append([]byte(xml.Header), b...), nil
}

// Check reports whether the IdP metadata can be loaded.
func (c *Connector) Check(ctx context.Context) error {
	_, err := c.provider(ctx)
	return err
}

// provider returns a ServiceProvider for the current IdP metadata. A failure to load the
// metadata is a *connectors.UpstreamError.
func (c *Connector) provider(ctx context.Context) (*csaml.ServiceProvider, error) {
	ed, gen, err := c.src.get(ctx)
	if err != nil {
		return nil, &connectors.UpstreamError{Temporary: true, Err: err}
	}
	keys, err := c.keys(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sp == nil || c.spGen != gen || c.spKeys != keys {
		sp := c.withKeys(keys)
		sp.IDPMetadata = ed
		c.sp, c.spGen, c.spKeys = &sp, gen, keys
	}
	return c.sp, nil
}

// keys returns the generated SP key material in force, or nil when the key is configured
// (or there is none). A storage failure is a temporary *connectors.UpstreamError.
func (c *Connector) keys(ctx context.Context) (*spKeys, error) {
	if c.ring == nil {
		return nil, nil
	}
	k, err := c.ring.get(ctx)
	if err != nil {
		return nil, &connectors.UpstreamError{Temporary: true, Err: err}
	}
	return k, nil
}

// withKeys returns the base ServiceProvider with the generated key material: the current
// pair signs and decrypts, the replaced one (during its grace period) decrypts.
func (c *Connector) withKeys(keys *spKeys) csaml.ServiceProvider {
	sp := c.base
	if keys == nil {
		return sp
	}
	sp.Key, sp.Certificate = keys.cur.key, keys.cur.cert
	if keys.prev != nil {
		sp.DecryptionKeys = slices.Concat(c.base.DecryptionKeys, []*rsa.PrivateKey{keys.prev.key})
	}
	return sp
}

// stash is what Begin keeps with the login for Finish.
type stash struct {
	RequestID string `json:"rid"`
}

// Begin starts a login: it returns the redirect (or auto-post form) to the IdP.
func (c *Connector) Begin(ctx context.Context, req connectors.BeginRequest) (connectors.Step, error) {
	sp, err := c.provider(ctx)
	if err != nil {
		return connectors.Step{}, err
	}
	binding, location := csaml.HTTPRedirectBinding, sp.GetSSOBindingLocation(csaml.HTTPRedirectBinding)
	if location == "" {
		binding, location = csaml.HTTPPostBinding, sp.GetSSOBindingLocation(csaml.HTTPPostBinding)
	}
	if location == "" {
		return connectors.Step{}, &connectors.UpstreamError{Err: errors.New("saml: the IdP metadata has no HTTP-Redirect or HTTP-POST SingleSignOnService")}
	}
	if req.Reauth.Demanded() {
		// The IdP must authenticate the user again; Finish checks its AuthnInstant.
		forced := *sp
		force := true
		forced.ForceAuthn = &force
		sp = &forced
	}
	ar, err := sp.MakeAuthenticationRequest(location, binding, csaml.HTTPPostBinding)
	if err != nil {
		return connectors.Step{}, fmt.Errorf("saml: make AuthnRequest: %w", err)
	}
	st, err := json.Marshal(stash{RequestID: ar.ID})
	if err != nil {
		return connectors.Step{}, fmt.Errorf("saml: %w", err)
	}
	if binding == csaml.HTTPRedirectBinding {
		u, err := ar.Redirect(req.State, sp)
		if err != nil {
			return connectors.Step{}, fmt.Errorf("saml: redirect binding: %w", err)
		}
		return connectors.Step{URL: u.String(), Stash: st}, nil
	}
	doc := etree.NewDocument()
	doc.SetRoot(ar.Element())
	b, err := doc.WriteToBytes()
	if err != nil {
		return connectors.Step{}, fmt.Errorf("saml: post binding: %w", err)
	}
	form := map[string]string{"SAMLRequest": base64.StdEncoding.EncodeToString(b)}
	if req.State != "" {
		form["RelayState"] = req.State
	}
	return connectors.Step{URL: location, PostForm: form, Stash: st}, nil
}

// ResponseError is a SAML response that was refused. Error returns only Reason, which is safe
// to show; Unwrap gives the underlying error (which may hold crewjam's private detail: log
// it, never show it).
type ResponseError struct {
	Reason string
	Err    error
}

func (e *ResponseError) Error() string { return "saml: " + e.Reason }

// Unwrap returns the underlying error.
func (e *ResponseError) Unwrap() error { return e.Err }

// Finish validates the IdP's Response posted to the ACS and returns the user's identity.
func (c *Connector) Finish(ctx context.Context, req connectors.FinishRequest, r *http.Request) (connectors.Upstream, error) {
	var requestIDs []string
	if len(req.Stash) > 0 {
		var st stash
		if err := json.Unmarshal(req.Stash, &st); err != nil || st.RequestID == "" {
			return connectors.Upstream{}, c.refuse(ctx, "the sign-in state is damaged", fmt.Errorf("bad stash: %w", err))
		}
		requestIDs = []string{st.RequestID}
	}
	if len(requestIDs) == 0 && !c.allowIDPInit {
		return connectors.Upstream{}, c.refuse(ctx, "the response does not belong to a sign-in started here", errors.New("no AuthnRequest ID in the stash"))
	}
	if r.Method != http.MethodPost {
		return connectors.Upstream{}, c.refuse(ctx, "the response was not posted (HTTP-POST binding expected)", fmt.Errorf("method %s", r.Method))
	}
	if err := r.ParseForm(); err != nil {
		return connectors.Upstream{}, c.refuse(ctx, "the response could not be read", err)
	}
	if r.Form.Has("SAMLart") {
		return connectors.Upstream{}, c.refuse(ctx, "the HTTP-Artifact binding is not supported", errors.New("SAMLart received"))
	}
	resp := r.PostForm.Get("SAMLResponse")
	switch {
	case resp == "":
		return connectors.Upstream{}, c.refuse(ctx, "no SAML response was received", errors.New("empty SAMLResponse"))
	case len(resp) > maxResponseSize:
		return connectors.Upstream{}, c.refuse(ctx, "the SAML response is too large", fmt.Errorf("SAMLResponse of %d bytes", len(resp)))
	case len(r.PostForm["SAMLResponse"]) > 1:
		return connectors.Upstream{}, c.refuse(ctx, "the response could not be read", errors.New("several SAMLResponse fields"))
	}
	if rs := r.PostForm.Get("RelayState"); rs != req.State {
		return connectors.Upstream{}, c.refuse(ctx, "the response does not belong to this sign-in", errors.New("RelayState does not match the state"))
	}
	sp, err := c.provider(ctx)
	if err != nil {
		return connectors.Upstream{}, err
	}
	// Destination must name the ACS itself: crewjam also accepts the request's own URL,
	// which behind proxies is not what the IdP was told.
	acsReq := r.WithContext(ctx)
	acsURL := sp.AcsURL
	acsReq.URL = &acsURL
	assertion, err := sp.ParseResponse(acsReq, requestIDs)
	if err != nil {
		return connectors.Upstream{}, c.refuse(ctx, publicReason(err), err)
	}
	if err := c.checkTimes(assertion); err != nil {
		return connectors.Upstream{}, c.refuse(ctx, "the response has expired or is not yet valid (check the clocks)", err)
	}
	up, err := c.identity(assertion)
	if err != nil {
		return connectors.Upstream{}, c.refuse(ctx, "the identity provider did not send a usable user ID", err)
	}
	// ForceAuthn is only a request: the AuthnStatement's AuthnInstant must prove it.
	if err := req.Reauth.Check(up.AuthTime); err != nil {
		return connectors.Upstream{}, err
	}
	return up, nil
}

// refuse logs the precise reason and returns the safe one.
func (c *Connector) refuse(ctx context.Context, reason string, err error) error {
	detail := err
	var ivr *csaml.InvalidResponseError
	if errors.As(err, &ivr) && ivr.PrivateErr != nil {
		detail = ivr.PrivateErr
	}
	c.logger.WarnContext(ctx, "saml: response refused", "reason", reason, "detail", errString(detail))
	return &ResponseError{Reason: reason, Err: err}
}

func privateString(err error) string {
	var ivr *csaml.InvalidResponseError
	if errors.As(err, &ivr) {
		return errString(ivr.PrivateErr)
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// publicReason turns a ParseResponse error into a short description safe to show.
func publicReason(err error) string {
	var bad csaml.ErrBadStatus
	switch {
	case errors.Is(err, csaml.ErrAssertionReplayed):
		return "the response was already used"
	case errors.Is(err, errReplayCacheFull):
		return "too many sign-ins at once; try again shortly"
	case errors.Is(err, errReplayCacheDown):
		return "sign-in is temporarily unavailable; try again shortly"
	case errors.As(err, &bad):
		return "the identity provider did not sign you in"
	case errors.Is(err, csaml.ErrInvalidSignature), errors.Is(err, csaml.ErrUntrustedCertificate):
		return "the response is not validly signed by the identity provider"
	case errors.Is(err, csaml.ErrDecryptionFailed):
		return "the response could not be decrypted"
	case errors.Is(err, csaml.ErrExpired), errors.Is(err, csaml.ErrNotYetValid):
		return "the response has expired or is not yet valid (check the clocks)"
	case errors.Is(err, csaml.ErrRequestIDMismatch):
		return "the response does not belong to this sign-in"
	case errors.Is(err, csaml.ErrAudienceMismatch), errors.Is(err, csaml.ErrDestinationMismatch):
		return "the response was meant for another service"
	case errors.Is(err, csaml.ErrIssuerMismatch):
		return "the response comes from another identity provider"
	case errors.Is(err, csaml.ErrMalformedMessage), errors.Is(err, csaml.ErrMissingElement):
		return "the response is malformed"
	case strings.Contains(errString(err), "signature element not present"),
		strings.Contains(privateString(err), "signature element not present"):
		// crewjam's sentinel for this (errSignatureElementNotPresent) is unexported.
		return "the response is not signed by the identity provider"
	}
	return "the response was refused"
}

// checkTimes applies the configured clock skew, which may be stricter than crewjam's.
func (c *Connector) checkTimes(a *csaml.Assertion) error {
	now := c.now()
	if a.IssueInstant.Add(-c.skew).After(now) {
		return fmt.Errorf("assertion IssueInstant %s is in the future (skew %s)", a.IssueInstant, c.skew)
	}
	if cond := a.Conditions; cond != nil {
		if !cond.NotBefore.IsZero() && cond.NotBefore.Add(-c.skew).After(now) {
			return fmt.Errorf("assertion NotBefore %s is in the future (skew %s)", cond.NotBefore, c.skew)
		}
		if !cond.NotOnOrAfter.IsZero() && !now.Before(cond.NotOnOrAfter.Add(c.skew)) {
			return fmt.Errorf("assertion NotOnOrAfter %s has passed (skew %s)", cond.NotOnOrAfter, c.skew)
		}
	}
	if a.Subject != nil {
		ok := false
		for _, sc := range a.Subject.SubjectConfirmations {
			d := sc.SubjectConfirmationData
			if sc.Method != "urn:oasis:names:tc:SAML:2.0:cm:bearer" || d == nil || d.Recipient != c.ACSURL() {
				continue
			}
			if now.Before(d.NotOnOrAfter.Add(c.skew)) && !d.NotBefore.Add(-c.skew).After(now) {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("no bearer SubjectConfirmationData valid now (skew %s)", c.skew)
		}
	}
	return nil
}

// identity maps a validated assertion to the upstream identity.
func (c *Connector) identity(a *csaml.Assertion) (connectors.Upstream, error) {
	attrs := map[string][]string{}
	friendly := map[string][]string{}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			for _, v := range at.Values {
				if v.Nil {
					continue
				}
				val := strings.TrimSpace(v.Value)
				if v.NameID != nil {
					val = strings.TrimSpace(v.NameID.Value)
				}
				if val == "" {
					continue
				}
				if !slices.Contains(attrs[at.Name], val) {
					attrs[at.Name] = append(attrs[at.Name], val)
				}
				if at.FriendlyName != "" && at.FriendlyName != at.Name && !slices.Contains(friendly[at.FriendlyName], val) {
					friendly[at.FriendlyName] = append(friendly[at.FriendlyName], val)
				}
			}
		}
	}
	lookup := func(configured string, defaults ...string) []string {
		names := defaults
		if configured != "" {
			names = []string{configured}
		}
		for _, n := range names {
			if v, ok := attrs[n]; ok {
				return v
			}
		}
		for _, n := range names {
			if v, ok := friendly[n]; ok {
				return v
			}
		}
		return nil
	}
	first := func(v []string) string {
		if len(v) == 0 {
			return ""
		}
		return v[0]
	}

	up := connectors.Upstream{Attrs: map[string][]string{}}
	for k, v := range attrs {
		up.Attrs[k] = v
	}
	for k, v := range friendly {
		if _, taken := up.Attrs[k]; !taken {
			up.Attrs[k] = v
		}
	}

	var nameID *csaml.NameID
	if a.Subject != nil {
		nameID = a.Subject.NameID
	}
	if c.attrs.Subject != "" {
		v := lookup(c.attrs.Subject)
		if len(v) != 1 {
			return connectors.Upstream{}, fmt.Errorf("attribute %q (attributes.subject) has %d values, want exactly 1", c.attrs.Subject, len(v))
		}
		up.Subject = v[0]
	} else {
		if nameID == nil || strings.TrimSpace(nameID.Value) == "" {
			return connectors.Upstream{}, errors.New("assertion has no NameID")
		}
		got := csaml.NameIDFormat(nameID.Format)
		if got == "" {
			got = csaml.UnspecifiedNameIDFormat
		}
		if got == csaml.TransientNameIDFormat {
			return connectors.Upstream{}, errors.New("NameID is transient: it cannot identify the user; set attributes.subject")
		}
		if c.format != csaml.UnspecifiedNameIDFormat && got != c.format {
			return connectors.Upstream{}, fmt.Errorf("NameID format is %s, not the configured %s", got, c.format)
		}
		up.Subject = strings.TrimSpace(nameID.Value)
	}

	up.Email = first(lookup(c.attrs.Email, "email", "mail", "emailAddress", "urn:oid:0.9.2342.19200300.100.1.3",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"))
	if up.Email == "" && nameID != nil && csaml.NameIDFormat(nameID.Format) == csaml.EmailAddressNameIDFormat {
		up.Email = strings.TrimSpace(nameID.Value)
	}
	up.EmailVerified = c.emailVerified && up.Email != ""
	up.Name = first(lookup(c.attrs.Name, "name", "displayName", "cn", "urn:oid:2.16.840.1.113730.3.1.241", "urn:oid:2.5.4.3",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"))
	up.Username = first(lookup(c.attrs.Username, "username", "uid", "urn:oid:0.9.2342.19200300.100.1.1"))
	if c.attrs.Groups != "" {
		for _, g := range lookup(c.attrs.Groups) {
			if !slices.Contains(up.Groups, g) {
				up.Groups = append(up.Groups, g)
			}
		}
	}

	up.AMR = []string{"fed"}
	if len(a.AuthnStatements) > 0 {
		st := a.AuthnStatements[0]
		up.SessionID = strings.TrimSpace(st.SessionIndex)
		up.AuthTime = st.AuthnInstant
		if now := c.now(); up.AuthTime.After(now) {
			up.AuthTime = now
		}
		if ref := st.AuthnContext.AuthnContextClassRef; ref != nil {
			up.ACR = strings.TrimSpace(ref.Value)
			if slices.Contains(c.mfa, up.ACR) {
				up.AMR = append(up.AMR, "mfa")
			}
		}
	}
	if nameID != nil && strings.TrimSpace(nameID.Value) != "" {
		st, err := json.Marshal(sessionStash{NameID: strings.TrimSpace(nameID.Value), Format: nameID.Format,
			NameQualifier: nameID.NameQualifier, SPNameQualifier: nameID.SPNameQualifier, SessionIndex: up.SessionID})
		if err != nil {
			return connectors.Upstream{}, fmt.Errorf("saml: %w", err)
		}
		up.Stash = st
	}
	return up, nil
}
