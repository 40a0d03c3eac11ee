package samlidp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/crewjam/saml"
)

// AuthnRequest is a validated authentication request (or an IdP-initiated login, with no ID).
// The broker keeps SP.ID, ID, ACSURL and RelayState across the login and rebuilds it for
// BuildResponse.
type AuthnRequest struct {
	SP *ServiceProvider
	// ID is the request's ID, the InResponseTo of the answer ("" for IdP-initiated logins).
	ID string
	// ACSURL is the assertion consumer service the answer goes to, from the SP's metadata.
	ACSURL     string
	RelayState string
	ForceAuthn bool
	IsPassive  bool
	// Binding is the binding the request came with (HTTP-Redirect or HTTP-POST).
	Binding string
	// Signed reports whether the request was signed (and the signature verified).
	Signed bool
	// NameIDFormat and SPNameQualifier are the request's NameIDPolicy ("" when absent).
	NameIDFormat    string
	SPNameQualifier string
	// AuthnContext is the request's RequestedAuthnContext (nil when absent).
	AuthnContext *RequestedAuthnContext
}

// RequestError is a request the IdP refuses without answering the SP (unknown SP, bad
// signature, unregistered ACS): Reason is safe to show to the user.
type RequestError struct {
	Reason string
	Err    error
}

func (e *RequestError) Error() string { return "samlidp: " + e.Reason + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }

func refuse(err error) error {
	reason := "the sign-in request is not valid"
	switch {
	case errors.Is(err, ErrMetadataUnavailable):
		reason = "the application's SAML metadata cannot be fetched right now"
	case errors.Is(err, saml.ErrUnknownServiceProvider), errors.Is(err, ErrUnknownSP):
		reason = "the application is not registered with Gatehouse"
	case errors.Is(err, saml.ErrInvalidSignature):
		reason = "the request's signature is missing or wrong"
	case errors.Is(err, saml.ErrUnknownAssertionConsumerService):
		reason = "the request asks to send the answer to an address that is not registered for the application"
	case errors.Is(err, saml.ErrDestinationMismatch):
		reason = "the request was addressed to another identity provider"
	case errors.Is(err, saml.ErrExpired), errors.Is(err, saml.ErrNotYetValid):
		reason = "the request is too old (or from the future): check the clocks"
	case errors.Is(err, saml.ErrMalformedMessage), errors.Is(err, saml.ErrMissingElement):
		reason = "the request is malformed"
	case errors.Is(err, saml.ErrUnsupported):
		reason = "the request uses a SAML feature Gatehouse does not support"
	}
	return &RequestError{Reason: reason, Err: err}
}

// ParseAuthnRequest reads and validates an AuthnRequest received at the SSO endpoint: the
// HTTP-Redirect binding (GET: SAMLRequest deflated and base64-encoded, with the query-string
// signature SigAlg/Signature checked when present) or the HTTP-POST binding (POST:
// SAMLRequest base64-encoded, enveloped signature checked when present). A request must come
// from a configured SP; it must be signed if the SP's metadata says it signs its requests; a
// signed request (or one with a Destination) must be addressed to this SSO endpoint; it must
// be fresh; and the assertion consumer service it names (by URL or index, or the default) must
// be an HTTP-POST endpoint in the SP's metadata. Every refusal is a *RequestError.
func (p *IdP) ParseAuthnRequest(r *http.Request) (*AuthnRequest, error) {
	req, err := saml.NewIdpAuthnRequest(p.idp, r)
	if err != nil {
		return nil, refuse(err)
	}
	// A signature present is verified by Validate (which then reads the request again from
	// what the signature covers, dropping the element).
	signed := r.URL.Query().Has("Signature") || bytes.Contains(req.RequestBuffer, []byte("http://www.w3.org/2000/09/xmldsig#"))
	if err := req.Validate(); err != nil {
		return nil, refuse(err)
	}
	if req.ACSEndpoint == nil || req.ACSEndpoint.Binding != saml.HTTPPostBinding {
		return nil, refuse(fmt.Errorf("assertion consumer service binding: %w", saml.ErrUnsupported))
	}
	issuer := ""
	if req.Request.Issuer != nil {
		issuer = req.Request.Issuer.Value
	}
	sp, _, err := p.spFor(r.Context(), issuer)
	if err != nil {
		return nil, refuse(err)
	}
	binding := saml.HTTPRedirectBinding
	if r.Method == http.MethodPost {
		binding = saml.HTTPPostBinding
	}
	out := &AuthnRequest{
		SP: sp, ID: req.Request.ID, ACSURL: req.ACSEndpoint.Location, RelayState: req.RelayState,
		ForceAuthn: req.Request.ForceAuthn != nil && *req.Request.ForceAuthn,
		IsPassive:  req.Request.IsPassive != nil && *req.Request.IsPassive,
		Binding:    binding,
		Signed:     signed,
	}
	if err := readPolicy(out, &req.Request); err != nil {
		return nil, refuse(err)
	}
	return out, nil
}

// IdPInitiated starts an unsolicited login for the SP with the ID: the answer goes to the
// SP's default HTTP-POST assertion consumer service.
func (p *IdP) IdPInitiated(ctx context.Context, spID, relayState string) (*AuthnRequest, error) {
	sp, err := p.LookupServiceProvider(ctx, spID)
	if err != nil {
		return nil, err
	}
	if sp == nil {
		return nil, refuse(fmt.Errorf("%w: %q", ErrUnknownSP, spID))
	}
	md, err := sp.Metadata(ctx)
	if err != nil {
		return nil, refuse(err)
	}
	acs := defaultACS(md)
	if acs == "" {
		return nil, refuse(fmt.Errorf("no HTTP-POST assertion consumer service: %w", saml.ErrUnknownAssertionConsumerService))
	}
	return &AuthnRequest{SP: sp, ACSURL: acs, RelayState: relayState}, nil
}

// defaultACS is the SP's default HTTP-POST assertion consumer service (saml-metadata
// 2.2.3: the first with isDefault="true", else the first without isDefault="false", else
// the first).
func defaultACS(md *saml.EntityDescriptor) string {
	var eps []saml.IndexedEndpoint
	for _, sd := range md.SPSSODescriptors {
		for _, ep := range sd.AssertionConsumerServices {
			if ep.Binding == saml.HTTPPostBinding {
				eps = append(eps, ep)
			}
		}
	}
	for _, ep := range eps {
		if ep.IsDefault != nil && *ep.IsDefault {
			return ep.Location
		}
	}
	for _, ep := range eps {
		if ep.IsDefault == nil {
			return ep.Location
		}
	}
	if len(eps) > 0 {
		return eps[0].Location
	}
	return ""
}

// acsRegistered reports whether url is an HTTP-POST assertion consumer service of the SP.
func acsRegistered(md *saml.EntityDescriptor, url string) bool {
	for _, sd := range md.SPSSODescriptors {
		for _, ep := range sd.AssertionConsumerServices {
			if ep.Binding == saml.HTTPPostBinding && ep.Location == url {
				return true
			}
		}
	}
	return false
}
