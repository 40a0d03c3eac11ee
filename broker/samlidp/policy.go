package samlidp

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"

	"github.com/crewjam/saml"
)

// What an AuthnRequest asks of the assertion: its NameIDPolicy (saml-core 3.4.1.1) and its
// RequestedAuthnContext (3.3.2.2.1). A request Gatehouse cannot satisfy is answered with an
// error Response (InvalidNameIDPolicy, NoAuthnContext), never with an assertion of another
// kind.

// ErrInvalidNameIDPolicy: the request's NameIDPolicy asks for a NameID Gatehouse cannot or
// will not produce for the SP (answered with InvalidNameIDPolicy).
var ErrInvalidNameIDPolicy = errors.New("samlidp: the requested NameID policy cannot be satisfied")

// ErrNoAuthnContext: no authentication Gatehouse can do satisfies the request's
// RequestedAuthnContext (answered with NoAuthnContext).
var ErrNoAuthnContext = errors.New("samlidp: the requested authentication context cannot be satisfied")

// Comparisons of a RequestedAuthnContext.
const (
	ComparisonExact   = "exact"
	ComparisonMinimum = "minimum"
	ComparisonMaximum = "maximum"
	ComparisonBetter  = "better"
)

// Bounds on what a request may ask, so that it fits in the auth request it is kept in.
const (
	maxRequestedClasses = 16
	maxPolicyValueLen   = 1024
)

const (
	unspecifiedNameIDFormat = string(saml.UnspecifiedNameIDFormat)
	// unspecified2NameIDFormat is the SAML 2.0 spelling some SPs send.
	unspecified2NameIDFormat = "urn:oasis:names:tc:SAML:2.0:nameid-format:unspecified"
)

// RequestedAuthnContext is an AuthnRequest's RequestedAuthnContext.
type RequestedAuthnContext struct {
	// Comparison is exact (the default), minimum, maximum or better.
	Comparison string
	// Classes are the AuthnContextClassRefs, in the SP's order of preference. Empty when the
	// request names only AuthnContextDeclRefs, which Gatehouse cannot evaluate.
	Classes []string
}

// mfaRank is the strength of a multi-factor login: above every single-factor class of
// saml.DefaultAuthnContextClassStrengths, level with SmartcardPKI (a card and a PIN).
const mfaRank = 5

// classStrengths ranks the classes for minimum, maximum and better: crewjam's default ranking
// of saml-authn-context-2.0-os classes, with the REFEDS MFA profile and the SP's own MFA
// classes as multi-factor.
func classStrengths(sp *ServiceProvider) map[string]int {
	m := saml.DefaultAuthnContextClassStrengths()
	m[ClassMFA] = mfaRank
	for _, c := range sp.MFAClasses {
		m[c] = mfaRank
	}
	return m
}

// satisfies reports whether asserting class satisfies rc (saml-core 3.3.2.2.1 with errata
// E65): exact, one of the classes; minimum, one of them or at least as strong as one;
// maximum, one of them or no stronger than one; better, stronger than one.
func satisfies(rc *RequestedAuthnContext, class string, strengths map[string]int) bool {
	if slices.Contains(rc.Classes, class) && rc.Comparison != ComparisonBetter {
		return true
	}
	var match func(a, r int) bool
	switch rc.Comparison {
	case ComparisonMinimum:
		match = func(a, r int) bool { return a >= r }
	case ComparisonMaximum:
		match = func(a, r int) bool { return a <= r }
	case ComparisonBetter:
		match = func(a, r int) bool { return a > r }
	default:
		return false
	}
	a, ok := strengths[class]
	if !ok {
		return false
	}
	for _, c := range rc.Classes {
		if r, ok := strengths[c]; ok && match(a, r) {
			return true
		}
	}
	return false
}

// candidates are the classes a login whose natural class is achieved (AuthnContextClass)
// may truthfully be asserted as, preferred first: a multi-factor login as the SP's own MFA
// classes it asked for, the REFEDS MFA profile, or PasswordProtectedTransport (it did
// include a password over TLS); any other login only as what it is.
func candidates(sp *ServiceProvider, rc *RequestedAuthnContext, achieved string) []string {
	if achieved != ClassMFA {
		return []string{achieved}
	}
	var out []string
	for _, c := range rc.Classes {
		if slices.Contains(sp.MFAClasses, c) {
			out = append(out, c)
		}
	}
	return append(out, ClassMFA, ClassPasswordProtectedTransport)
}

// assertedClass is the AuthnContextClassRef to assert for a login whose natural class is
// achieved: achieved when the request asks for nothing, else the first candidate that
// satisfies the request, else ErrNoAuthnContext.
func assertedClass(req *AuthnRequest, achieved string) (string, error) {
	rc := req.AuthnContext
	if rc == nil {
		return achieved, nil
	}
	strengths := classStrengths(req.SP)
	for _, c := range candidates(req.SP, rc, achieved) {
		if satisfies(rc, c, strengths) {
			return c, nil
		}
	}
	return "", fmt.Errorf("%w: %s %q, the login is %s", ErrNoAuthnContext, comparison(rc), rc.Classes, achieved)
}

func comparison(rc *RequestedAuthnContext) string {
	if rc.Comparison == "" {
		return ComparisonExact
	}
	return rc.Comparison
}

// CheckRequest says, before the login, whether Gatehouse can answer req as it asks: its
// NameIDPolicy (else an error wrapping ErrInvalidNameIDPolicy) and its RequestedAuthnContext
// (needMFA when only a multi-factor login satisfies it; an error wrapping ErrNoAuthnContext
// when neither a password login nor, if mfaAvailable, a multi-factor one does). Whether the
// user's email may be an emailAddress NameID is known only after the login (BuildResponse).
func (p *IdP) CheckRequest(req *AuthnRequest, mfaAvailable bool) (needMFA bool, err error) {
	if _, err := req.nameIDFormat(); err != nil {
		return false, err
	}
	if req.AuthnContext == nil {
		return false, nil
	}
	if _, err := assertedClass(req, ClassPasswordProtectedTransport); err == nil {
		return false, nil
	}
	if _, err := assertedClass(req, ClassMFA); err != nil || !mfaAvailable {
		return false, fmt.Errorf("%w: %s %q", ErrNoAuthnContext, comparison(req.AuthnContext), req.AuthnContext.Classes)
	}
	return true, nil
}

// nameIDFormat resolves the NameID format to assert (persistent, emailAddress or transient):
// the SP's configured one when the request's NameIDPolicy omits the format or leaves it
// unspecified; else the requested one, when Gatehouse produces it for the SP. emailAddress is
// produced only for an SP that gets the user's email anyway (its name_id_format, or an
// attribute of the email claim, which the default attributes include). An SPNameQualifier
// other than the SP's own entity ID asks for an affiliation's NameID, which Gatehouse does not
// have.
func (req *AuthnRequest) nameIDFormat() (string, error) {
	sp := req.SP
	if req.SPNameQualifier != "" && req.SPNameQualifier != sp.entityID {
		return "", fmt.Errorf("%w: SPNameQualifier %q", ErrInvalidNameIDPolicy, req.SPNameQualifier)
	}
	switch req.NameIDFormat {
	case "", unspecifiedNameIDFormat, unspecified2NameIDFormat:
		return sp.NameIDFormat, nil
	case string(saml.PersistentNameIDFormat):
		return NameIDPersistent, nil
	case string(saml.TransientNameIDFormat):
		return NameIDTransient, nil
	case string(saml.EmailAddressNameIDFormat):
		if sp.releasesEmail() {
			return NameIDEmail, nil
		}
		return "", fmt.Errorf("%w: emailAddress, and %s is not given the user's email", ErrInvalidNameIDPolicy, sp.ID)
	}
	return "", fmt.Errorf("%w: format %q", ErrInvalidNameIDPolicy, req.NameIDFormat)
}

// releasesEmail reports whether the SP gets the user's email: its NameID format, or an
// attribute of the email claim (the default attributes, used when it maps none, include it).
func (sp *ServiceProvider) releasesEmail() bool {
	if sp.NameIDFormat == NameIDEmail || len(sp.Attributes) == 0 {
		return true
	}
	for _, claim := range sp.Attributes {
		if claim == "email" {
			return true
		}
	}
	return false
}

// transientKey derives the key of transient NameIDs from the IdP's private key: secret, and
// the same on every replica. A key in a token never shows its bytes: the key is then the hash
// of its RSA PKCS #1 v1.5 signature (deterministic) of a fixed label, which only the
// token's key can make.
func transientKey(key *rsa.PrivateKey, signer crypto.Signer) ([]byte, error) {
	h := sha256.New()
	h.Write([]byte("gatehouse-saml-transient-key\x00"))
	if key != nil {
		h.Write(x509.MarshalPKCS1PrivateKey(key))
		return h.Sum(nil), nil
	}
	label := sha256.Sum256([]byte("gatehouse-saml-transient-key"))
	sig, err := signer.Sign(rand.Reader, label[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("samlidp: derive the transient NameID key with the token: %w", err)
	}
	h.Write(sig)
	return h.Sum(nil), nil
}

// transientNameID is the user's transient NameID at the SP in one SSO session (known to the
// SPs by its SessionIndex): the same for every assertion of the session, so that single
// logout finds it, and unlinkable across sessions and SPs without the IdP's key.
func (p *IdP) transientNameID(spEntityID, sessionIndex, userID string) string {
	m := hmac.New(sha256.New, p.transientKey)
	for _, v := range []string{spEntityID, sessionIndex, userID} {
		m.Write([]byte(v))
		m.Write([]byte{0})
	}
	return "_" + hex.EncodeToString(m.Sum(nil)[:20])
}

// Policy encodes what req asks of the assertion (NameIDPolicy, RequestedAuthnContext) as a
// string the broker keeps with the login; SetPolicy reads it back.
func (req *AuthnRequest) Policy() string {
	v := url.Values{}
	if req.NameIDFormat != "" {
		v.Set("nf", req.NameIDFormat)
	}
	if req.SPNameQualifier != "" {
		v.Set("spnq", req.SPNameQualifier)
	}
	if rc := req.AuthnContext; rc != nil {
		v.Set("cmp", comparison(rc))
		v["ac"] = slices.Clone(rc.Classes)
	}
	return v.Encode()
}

// SetPolicy sets what Policy encoded.
func (req *AuthnRequest) SetPolicy(s string) error {
	v, err := url.ParseQuery(s)
	if err != nil {
		return fmt.Errorf("samlidp: request policy: %w", err)
	}
	req.NameIDFormat, req.SPNameQualifier, req.AuthnContext = v.Get("nf"), v.Get("spnq"), nil
	if v.Has("cmp") {
		req.AuthnContext = &RequestedAuthnContext{Comparison: v.Get("cmp"), Classes: v["ac"]}
	}
	return nil
}

// readPolicy takes the NameIDPolicy and RequestedAuthnContext of a parsed request, bounded.
func readPolicy(out *AuthnRequest, r *saml.AuthnRequest) error {
	if np := r.NameIDPolicy; np != nil {
		if np.Format != nil {
			out.NameIDFormat = *np.Format
		}
		if np.SPNameQualifier != nil {
			out.SPNameQualifier = *np.SPNameQualifier
		}
	}
	if rac := r.RequestedAuthnContext; rac != nil {
		switch rac.Comparison {
		case "", ComparisonExact, ComparisonMinimum, ComparisonMaximum, ComparisonBetter:
		default:
			return fmt.Errorf("RequestedAuthnContext Comparison %q: %w", rac.Comparison, saml.ErrMalformedMessage)
		}
		out.AuthnContext = &RequestedAuthnContext{Comparison: rac.Comparison, Classes: slices.Clone(rac.ClassRefs())}
		if len(out.AuthnContext.Classes) > maxRequestedClasses {
			return fmt.Errorf("RequestedAuthnContext with %d classes: %w", len(out.AuthnContext.Classes), saml.ErrMalformedMessage)
		}
	}
	for _, s := range append([]string{out.NameIDFormat, out.SPNameQualifier}, classesOf(out.AuthnContext)...) {
		if len(s) > maxPolicyValueLen {
			return fmt.Errorf("NameIDPolicy or RequestedAuthnContext value too long: %w", saml.ErrMalformedMessage)
		}
	}
	return nil
}

func classesOf(rc *RequestedAuthnContext) []string {
	if rc == nil {
		return nil
	}
	return rc.Classes
}
