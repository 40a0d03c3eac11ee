package samlidp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
)

// Authentication context classes (saml-authn-context-2.0-os, REFEDS).
const (
	// ClassPasswordProtectedTransport: a password over TLS (the default).
	ClassPasswordProtectedTransport = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
	// ClassMFA is asserted when the login used a second factor (Gatehouse's acr
	// urn:gatehouse:acr:mfa, or amr mfa): the REFEDS MFA profile, which SAML SPs that ask for
	// multi-factor understand.
	ClassMFA = "https://refeds.org/profile/mfa"
	// ClassUnspecified: nothing is known about how the user authenticated.
	ClassUnspecified = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
)

// AuthnContextClass maps Gatehouse's acr/amr to a SAML authentication context class: a
// multi-factor login gets ClassMFA; an upstream SAML class (acr) is passed on; otherwise
// PasswordProtectedTransport.
func AuthnContextClass(acr string, amr []string) string {
	switch {
	case acr == "urn:gatehouse:acr:mfa" || slices.Contains(amr, "mfa") || acr == ClassMFA:
		return ClassMFA
	case strings.HasPrefix(acr, "urn:oasis:names:tc:SAML:2.0:ac:classes:"):
		return acr
	}
	return ClassPasswordProtectedTransport
}

// SessionIndex derives the SessionIndex an SSO session is known by at the SPs: stable for
// the session, and revealing nothing of the session's ID.
func SessionIndex(sessionID string) string {
	h := sha256.Sum256([]byte("gatehouse-saml-session-index\x00" + sessionID))
	return "gh-" + hex.EncodeToString(h[:16])
}

// Attribute is one SAML attribute with its values.
type Attribute struct {
	Name   string
	Values []string
}

// Subject is what the IdP asserts about the signed-in user.
type Subject struct {
	// UserID is Gatehouse's internal user ID (the OIDC sub); persistent NameIDs derive from it.
	UserID string
	// Email is asserted as an emailAddress NameID only when EmailVerified.
	Email         string
	EmailVerified bool
	Attributes    []Attribute
	AuthTime      time.Time
	// AuthnContext is the class reference (see AuthnContextClass).
	AuthnContext string
	SessionIndex string
	// RemoteAddr is the browser's address (SubjectConfirmationData Address), may be empty.
	RemoteAddr string
}

// Response is a SAML Response ready to be POSTed to the SP's assertion consumer service.
type Response struct {
	URL          string
	SAMLResponse string // base64
	RelayState   string
	// NameID and NameIDFormat are what the assertion named the user (for single logout).
	NameID       string
	NameIDFormat string
}

// nameIDFormatURI maps the configured format name to its URI.
func nameIDFormatURI(f string) string {
	switch f {
	case NameIDEmail:
		return string(saml.EmailAddressNameIDFormat)
	case NameIDTransient:
		return string(saml.TransientNameIDFormat)
	}
	return string(saml.PersistentNameIDFormat)
}

// PersistentNameID is the persistent NameID of a user at an SP: base64url(SHA-256 of the
// salt, the SP's entity ID and the user ID), stable, and different at every SP.
func (p *IdP) PersistentNameID(spEntityID, userID string) string {
	h := sha256.New()
	h.Write([]byte("gatehouse-saml-persistent\x00"))
	h.Write([]byte(p.opts.PersistentSalt))
	h.Write([]byte{0})
	h.Write([]byte(spEntityID))
	h.Write([]byte{0})
	h.Write([]byte(userID))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// ErrNoEmail: the SP wants an emailAddress NameID and the user has no verified email address
// (an unverified one would let a user name themselves as someone else at the SP).
var ErrNoEmail = errors.New("samlidp: the user has no verified email address for an emailAddress NameID")

// nameID is the subject's NameID of the format at the SP.
func (p *IdP) nameID(format string, md *saml.EntityDescriptor, s Subject) (string, error) {
	switch format {
	case NameIDEmail:
		if s.Email == "" || !s.EmailVerified {
			return "", ErrNoEmail
		}
		return s.Email, nil
	case NameIDTransient:
		if s.SessionIndex == "" {
			var b [20]byte
			_, _ = rand.Read(b[:])
			return "_" + hex.EncodeToString(b[:]), nil
		}
		return p.transientNameID(md.EntityID, s.SessionIndex, s.UserID), nil
	}
	return p.PersistentNameID(md.EntityID, s.UserID), nil
}

func randomID() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return "id-" + hex.EncodeToString(b[:])
}

// target resolves a request's SP metadata and re-checks its ACS against it.
func (p *IdP) target(ctx context.Context, req *AuthnRequest) (*saml.EntityDescriptor, error) {
	if req == nil || req.SP == nil {
		return nil, errors.New("samlidp: no service provider")
	}
	md, err := req.SP.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	if !acsRegistered(md, req.ACSURL) {
		return nil, fmt.Errorf("samlidp: %q is not an assertion consumer service of %s: %w", req.ACSURL, req.SP.ID, saml.ErrUnknownAssertionConsumerService)
	}
	return md, nil
}

// BuildResponse makes the SAML Response to req for the subject: an assertion with the SP's
// NameID, the attributes, AuthnContext, SessionIndex, a bearer SubjectConfirmation
// (Recipient, InResponseTo, NotOnOrAfter), Conditions (validity window and audience
// restriction to the SP's entity ID); signed (sign_assertion) and encrypted
// (encrypt_assertion) as the SP is configured; in a Response with Destination and
// InResponseTo, signed when sign_response.
func (p *IdP) BuildResponse(ctx context.Context, req *AuthnRequest, s Subject) (*Response, error) {
	md, err := p.target(ctx, req)
	if err != nil {
		return nil, err
	}
	sp := req.SP
	formatName, err := req.nameIDFormat()
	if err != nil {
		return nil, err
	}
	nameID, err := p.nameID(formatName, md, s)
	if err != nil {
		return nil, err
	}
	class := s.AuthnContext
	if class == "" {
		class = ClassUnspecified
	}
	if class, err = assertedClass(req, class); err != nil {
		return nil, err
	}
	now := p.opts.Now().UTC()
	notOnOrAfter := now.Add(p.opts.AssertionLifetime)
	format := nameIDFormatURI(formatName)
	nid := &saml.NameID{Format: format, Value: nameID, NameQualifier: p.entityID, SPNameQualifier: md.EntityID}
	if formatName == NameIDEmail {
		nid.NameQualifier, nid.SPNameQualifier = "", ""
	}
	authTime := s.AuthTime.UTC()
	if authTime.IsZero() || authTime.After(now) {
		authTime = now
	}
	addr := s.RemoteAddr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	a := &saml.Assertion{
		ID: randomID(), IssueInstant: now, Version: "2.0",
		Issuer: saml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: p.entityID},
		Subject: &saml.Subject{
			NameID: nid,
			SubjectConfirmations: []saml.SubjectConfirmation{{
				Method: "urn:oasis:names:tc:SAML:2.0:cm:bearer",
				SubjectConfirmationData: &saml.SubjectConfirmationData{
					Address: addr, InResponseTo: req.ID, NotOnOrAfter: notOnOrAfter, Recipient: req.ACSURL,
				},
			}},
		},
		Conditions: &saml.Conditions{
			NotBefore: now.Add(-30 * time.Second), NotOnOrAfter: notOnOrAfter,
			AudienceRestrictions: []saml.AudienceRestriction{{Audience: saml.Audience{Value: md.EntityID}}},
		},
		AuthnStatements: []saml.AuthnStatement{{
			AuthnInstant: authTime, SessionIndex: s.SessionIndex,
			AuthnContext: saml.AuthnContext{AuthnContextClassRef: &saml.AuthnContextClassRef{Value: class}},
		}},
	}
	a.AttributeStatements = attributeStatements(s.Attributes)
	assertionEl, err := p.sealAssertion(a, sp, md)
	if err != nil {
		return nil, err
	}
	resp := &saml.Response{
		Destination: req.ACSURL, ID: randomID(), InResponseTo: req.ID, IssueInstant: now, Version: "2.0",
		Issuer: &saml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: p.entityID},
		Status: saml.Status{StatusCode: saml.StatusCode{Value: saml.StatusSuccess}},
	}
	out, err := p.finishResponse(resp, assertionEl, sp.SignResponse)
	if err != nil {
		return nil, err
	}
	return &Response{URL: req.ACSURL, SAMLResponse: out, RelayState: req.RelayState, NameID: nameID, NameIDFormat: format}, nil
}

// attributeStatements renders the attributes as one statement (none without attributes).
func attributeStatements(attrs []Attribute) []saml.AttributeStatement {
	if len(attrs) == 0 {
		return nil
	}
	st := saml.AttributeStatement{}
	for _, at := range attrs {
		attr := saml.Attribute{Name: at.Name, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}
		for _, v := range at.Values {
			attr.Values = append(attr.Values, saml.AttributeValue{Type: "xs:string", Value: v})
		}
		st.Attributes = append(st.Attributes, attr)
	}
	return []saml.AttributeStatement{st}
}

// sealAssertion returns the assertion's element as the SP wants it: signed
// (sign_assertion) and then encrypted to its certificate (encrypt_assertion).
func (p *IdP) sealAssertion(a *saml.Assertion, sp *ServiceProvider, md *saml.EntityDescriptor) (*etree.Element, error) {
	sc, err := p.signingContext() // also checked when only the Response is signed: no key, no answer
	if err != nil {
		return nil, err
	}
	assertionEl := a.Element()
	if sp.SignAssertion {
		signed, err := sc.SignEnveloped(assertionEl)
		if err != nil {
			return nil, fmt.Errorf("samlidp: sign assertion: %w", err)
		}
		a.Signature = signed.ChildElements()[len(signed.ChildElements())-1]
		assertionEl = a.Element()
	}
	if sp.EncryptAssertion {
		return encryptAssertion(md, assertionEl)
	}
	return assertionEl, nil
}

// encryptAssertion encrypts the (signed) assertion to the SP's encryption certificate:
// RSA-OAEP (SHA-1 digest) for the key and the first block cipher the SP lists among AES-256-GCM,
// AES-128-GCM, AES-256-CBC, AES-128-CBC, else AES-256-CBC (which every SP decrypts).
func encryptAssertion(md *saml.EntityDescriptor, el *etree.Element) (*etree.Element, error) {
	cert, methods, err := encryptionCert(md)
	if err != nil {
		return nil, fmt.Errorf("samlidp: encrypt assertion: %w", err)
	}
	doc := etree.NewDocument()
	doc.SetRoot(el)
	buf, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("samlidp: encrypt assertion: %w", err)
	}
	enc := xmlenc.OAEP()
	// RSA-OAEP-MGF1P with SHA-1 as the OAEP digest: the one every SP decrypts (some, like
	// node-saml's xml-encryption, ignore a DigestMethod).
	enc.DigestMethod = &xmlenc.SHA1
	enc.BlockCipher = xmlenc.AES256CBC
	listed := map[string]bool{}
	for _, m := range methods {
		listed[m.Algorithm] = true
	}
	for _, bc := range []xmlenc.BlockCipher{xmlenc.AES256GCM, xmlenc.AES128GCM, xmlenc.AES256CBC, xmlenc.AES128CBC} {
		if listed[bc.Algorithm()] {
			enc.BlockCipher = bc
			break
		}
	}
	data, err := enc.Encrypt(cert, buf, nil)
	if err != nil {
		return nil, fmt.Errorf("samlidp: encrypt assertion: %w", err)
	}
	data.CreateAttr("Type", "http://www.w3.org/2001/04/xmlenc#Element")
	ea := etree.NewElement("saml:EncryptedAssertion")
	ea.AddChild(data)
	return ea, nil
}

// finishResponse adds the assertion (if any) to the response, signs it when asked, and
// returns it base64-encoded.
func (p *IdP) finishResponse(resp *saml.Response, assertionEl *etree.Element, sign bool) (string, error) {
	el := resp.Element()
	if assertionEl != nil {
		el.AddChild(assertionEl)
	}
	if sign {
		sc, err := p.signingContext()
		if err != nil {
			return "", err
		}
		signed, err := sc.SignEnveloped(el)
		if err != nil {
			return "", fmt.Errorf("samlidp: sign response: %w", err)
		}
		var sig *etree.Element
		for _, c := range signed.ChildElements() {
			if c.Tag == "Signature" {
				sig = c
			}
		}
		resp.Signature = sig
		el = resp.Element()
		if assertionEl != nil {
			el.AddChild(assertionEl)
		}
	}
	doc := etree.NewDocument()
	doc.SetRoot(el)
	buf, err := doc.WriteToBytes()
	if err != nil {
		return "", fmt.Errorf("samlidp: serialize response: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf), nil
}

// Second-level status codes the broker answers with.
const (
	StatusNoPassive           = saml.StatusNoPassive
	StatusRequestDenied       = saml.StatusRequestDenied
	StatusAuthnFailed         = saml.StatusAuthnFailed
	StatusInvalidNameIDPolicy = saml.StatusInvalidNameIDPolicy
	StatusNoAuthnContext      = saml.StatusNoAuthnContext
)

// BuildErrorResponse makes a signed Response with status Responder and the second-level
// status (NoPassive, RequestDenied, AuthnFailed, ...), no assertion, to req's registered ACS.
func (p *IdP) BuildErrorResponse(ctx context.Context, req *AuthnRequest, second, message string) (*Response, error) {
	if _, err := p.target(ctx, req); err != nil {
		return nil, err
	}
	st := saml.Status{StatusCode: saml.StatusCode{Value: saml.StatusResponder}}
	if second != "" {
		st.StatusCode.StatusCode = &saml.StatusCode{Value: second}
	}
	if message != "" {
		st.StatusMessage = &saml.StatusMessage{Value: message}
	}
	resp := &saml.Response{
		Destination: req.ACSURL, ID: randomID(), InResponseTo: req.ID, IssueInstant: p.opts.Now().UTC(), Version: "2.0",
		Issuer: &saml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: p.entityID},
		Status: st,
	}
	out, err := p.finishResponse(resp, nil, true)
	if err != nil {
		return nil, err
	}
	return &Response{URL: req.ACSURL, SAMLResponse: out, RelayState: req.RelayState}, nil
}
