package samlidp

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
)

// LogoutRequest is a validated LogoutRequest from an SP.
type LogoutRequest struct {
	SP             *ServiceProvider
	NameID         string
	SessionIndexes []string
	req            *saml.IdpLogoutRequest
}

// ParseLogoutRequest reads and validates a LogoutRequest received at the SLO endpoint
// (HTTP-Redirect or HTTP-POST): a configured SP, signed with a key from its metadata,
// addressed to this IdP, current; the SP must have a SingleLogoutService to answer to.
func (p *IdP) ParseLogoutRequest(r *http.Request) (*LogoutRequest, error) {
	req, err := saml.NewIdpLogoutRequest(p.idp, r)
	if err != nil {
		return nil, refuse(fmt.Errorf("%w: %w", saml.ErrMalformedMessage, err))
	}
	if err := req.Validate(); err != nil {
		return nil, refuse(err)
	}
	sp, _, err := p.spFor(r.Context(), req.Request.Issuer.Value)
	if err != nil {
		return nil, refuse(err)
	}
	lr := &LogoutRequest{SP: sp, req: req}
	if req.Request.NameID != nil {
		lr.NameID = req.Request.NameID.Value
	}
	for _, si := range req.Request.AllSessionIndexes() {
		lr.SessionIndexes = append(lr.SessionIndexes, si.Value)
	}
	return lr, nil
}

// WriteResponse answers the SP with a signed LogoutResponse (Success, or Responder when
// success is false) with the binding of its SingleLogoutService.
func (lr *LogoutRequest) WriteResponse(w http.ResponseWriter, success bool) error {
	status := saml.StatusSuccess
	if !success {
		status = saml.StatusResponder
	}
	if err := lr.req.WriteLogoutResponse(w, lr.req.MakeLogoutResponse(status)); err != nil {
		return fmt.Errorf("samlidp: logout response: %w", err)
	}
	return nil
}

// Message is a protocol message for the browser to carry: a redirect to URL (HTTP-Redirect
// binding) or, when Fields is set, a form to POST to URL.
type Message struct {
	URL    string
	Fields map[string]string
}

// ErrNoSLO: the SP has no SingleLogoutService.
var ErrNoSLO = errors.New("samlidp: the service provider has no single logout service")

// sloEndpoint returns the SP's SingleLogoutService, preferring HTTP-Redirect.
func sloEndpoint(md *saml.EntityDescriptor) (saml.Endpoint, bool) {
	var post *saml.Endpoint
	for _, sd := range md.SPSSODescriptors {
		for _, ep := range sd.SingleLogoutServices {
			switch ep.Binding {
			case saml.HTTPRedirectBinding:
				return ep, true
			case saml.HTTPPostBinding:
				if post == nil {
					post = &ep
				}
			}
		}
	}
	if post != nil {
		return *post, true
	}
	return saml.Endpoint{}, false
}

// HasSLO reports whether the SP has a single logout service (fetching its metadata if needed).
func (p *IdP) HasSLO(ctx context.Context, sp *ServiceProvider) bool {
	md, err := sp.Metadata(ctx)
	if err != nil {
		return false
	}
	_, ok := sloEndpoint(md)
	return ok
}

// LogoutRequestMessage makes a signed LogoutRequest to the SP for the NameID and
// SessionIndex it was given at login (front-channel, IdP-initiated logout). The SP answers
// at the SLO endpoint with a LogoutResponse carrying relayState.
func (p *IdP) LogoutRequestMessage(ctx context.Context, sp *ServiceProvider, nameID, nameIDFormat, sessionIndex, relayState string) (*Message, error) {
	md, err := sp.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	ep, ok := sloEndpoint(md)
	if !ok {
		return nil, ErrNoSLO
	}
	lr := p.logoutRequest(md, ep.Location, nameID, nameIDFormat, sessionIndex)
	sc, err := p.signingContext()
	if err != nil {
		return nil, err
	}
	if ep.Binding == saml.HTTPPostBinding {
		signed, err := sc.SignEnveloped(lr.Element())
		if err != nil {
			return nil, fmt.Errorf("samlidp: sign logout request: %w", err)
		}
		doc := etree.NewDocument()
		doc.SetRoot(signed)
		buf, err := doc.WriteToBytes()
		if err != nil {
			return nil, err
		}
		f := map[string]string{"SAMLRequest": base64.StdEncoding.EncodeToString(buf)}
		if relayState != "" {
			f["RelayState"] = relayState
		}
		return &Message{URL: ep.Location, Fields: f}, nil
	}
	// HTTP-Redirect: deflate, base64, and sign the query (saml-bindings 3.4.4.1).
	doc := etree.NewDocument()
	doc.SetRoot(lr.Element())
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression) //nolint:errcheck // fails only for an invalid level
	if _, err := doc.WriteTo(fw); err != nil {
		return nil, err
	}
	if err := fw.Close(); err != nil {
		return nil, err
	}
	q := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if relayState != "" {
		q += "&RelayState=" + url.QueryEscape(relayState)
	}
	q += "&SigAlg=" + url.QueryEscape(sc.GetSignatureMethodIdentifier())
	sig, err := sc.SignString(q)
	if err != nil {
		return nil, fmt.Errorf("samlidp: sign logout request: %w", err)
	}
	q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	u, err := url.Parse(ep.Location)
	if err != nil {
		return nil, err
	}
	if u.RawQuery != "" {
		u.RawQuery += "&" + q
	} else {
		u.RawQuery = q
	}
	return &Message{URL: u.String()}, nil
}

// logoutRequest is an unsigned LogoutRequest to the SP of md at destination, naming the
// NameID and SessionIndex the SP got at login.
func (p *IdP) logoutRequest(md *saml.EntityDescriptor, destination, nameID, nameIDFormat, sessionIndex string) *saml.LogoutRequest {
	now := p.opts.Now().UTC()
	lr := &saml.LogoutRequest{
		ID: randomID(), Version: "2.0", IssueInstant: now, Destination: destination,
		Issuer: &saml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: p.entityID},
		NameID: &saml.NameID{Format: nameIDFormat, Value: nameID},
	}
	if nameIDFormat == string(saml.PersistentNameIDFormat) || nameIDFormat == string(saml.TransientNameIDFormat) {
		lr.NameID.NameQualifier, lr.NameID.SPNameQualifier = p.entityID, md.EntityID
	}
	if sessionIndex != "" {
		lr.SessionIndex = &saml.SessionIndex{Value: sessionIndex}
	}
	return lr
}

// IsLogoutResponse reports whether a request to the SLO endpoint carries a LogoutResponse
// (rather than a LogoutRequest).
func IsLogoutResponse(r *http.Request) bool {
	if r.Method == http.MethodGet {
		return r.URL.Query().Has("SAMLResponse")
	}
	return r.PostFormValue("SAMLResponse") != ""
}

// LogoutResponseInfo is what the IdP reads of an SP's LogoutResponse: it continues a logout
// the IdP started (found by RelayState), so its signature is not relied on.
type LogoutResponseInfo struct {
	RelayState   string
	InResponseTo string
	Success      bool
}

// ReadLogoutResponse decodes an SP's LogoutResponse (HTTP-Redirect or HTTP-POST).
func ReadLogoutResponse(r *http.Request) (LogoutResponseInfo, error) {
	var raw []byte
	var info LogoutResponseInfo
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		info.RelayState = q.Get("RelayState")
		b, err := base64.StdEncoding.DecodeString(q.Get("SAMLResponse"))
		if err != nil {
			return info, fmt.Errorf("samlidp: logout response: %w", err)
		}
		if raw, err = io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(b)), 1<<20)); err != nil {
			return info, fmt.Errorf("samlidp: logout response: %w", err)
		}
	} else {
		info.RelayState = r.PostFormValue("RelayState")
		b, err := base64.StdEncoding.DecodeString(r.PostFormValue("SAMLResponse"))
		if err != nil {
			return info, fmt.Errorf("samlidp: logout response: %w", err)
		}
		raw = b
	}
	var lr saml.LogoutResponse
	if err := xml.Unmarshal(raw, &lr); err != nil {
		return info, fmt.Errorf("samlidp: logout response: %w", err)
	}
	info.InResponseTo = lr.InResponseTo
	info.Success = lr.Status.StatusCode.Value == saml.StatusSuccess
	return info, nil
}

// PreparedResponse is a signed LogoutResponse made now and sent later, when the logout the
// request started has gone round the session's other SPs (saml-profiles 4.4.3.4: the
// requester gets its answer last). It is kept in the fan-out state, so it holds only what
// the browser is sent: a redirect, or the auto-submitting form.
type PreparedResponse struct {
	Status   int    `json:"status"`
	Location string `json:"location,omitempty"`
	Body     []byte `json:"body,omitempty"`
}

// maxPrepared bounds a prepared LogoutResponse (a redirect URL or a small form).
const maxPrepared = 64 << 10

// captureWriter records what crewjam writes for a LogoutResponse.
type captureWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *captureWriter) Header() http.Header { return c.header }

func (c *captureWriter) WriteHeader(status int) { c.status = status }

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.body.Len()+len(b) > maxPrepared {
		return 0, errors.New("samlidp: prepared logout response too large")
	}
	return c.body.Write(b)
}

// Prepare signs the LogoutResponse to send once the other SPs of the session were told:
// Success, with the second-level status PartialLogout when partial (saml-core 3.7.3.2).
func (lr *LogoutRequest) Prepare(partial bool) (*PreparedResponse, error) {
	resp := lr.req.MakeLogoutResponse(saml.StatusSuccess)
	if partial {
		resp.Status.StatusCode.StatusCode = &saml.StatusCode{Value: saml.StatusPartialLogout}
	}
	c := &captureWriter{header: http.Header{}, status: http.StatusOK}
	if err := lr.req.WriteLogoutResponse(c, resp); err != nil {
		return nil, fmt.Errorf("samlidp: logout response: %w", err)
	}
	return &PreparedResponse{Status: c.status, Location: c.header.Get("Location"), Body: c.body.Bytes()}, nil
}

// Write sends the prepared LogoutResponse to the browser.
func (p *PreparedResponse) Write(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	if p.Location != "" {
		w.Header().Set("Location", p.Location)
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(p.Status)
	_, _ = w.Write(p.Body) //nolint:errcheck // the browser went away: nothing to do
}
