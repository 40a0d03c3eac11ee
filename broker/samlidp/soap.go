package samlidp

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// Back-channel single logout: the SAML SOAP binding (saml-bindings 3.2) for the
// LogoutRequests Gatehouse sends to SPs whose metadata lists a SOAP SingleLogoutService
// (saml-profiles 4.4.3.3). The browser does not go there; the SP's LogoutResponse comes back
// on the same connection.

const (
	soapEnvelopeNS = "http://schemas.xmlsoap.org/soap/envelope/"
	samlProtocolNS = "urn:oasis:names:tc:SAML:2.0:protocol"
	// soapTimeout bounds one SOAP logout (the user waits for it).
	soapTimeout = 5 * time.Second
	// maxSOAPResponse bounds the SP's answer.
	maxSOAPResponse = 64 << 10
)

// soapSLOEndpoint returns the SP's SOAP SingleLogoutService: https, or http on loopback.
func soapSLOEndpoint(md *saml.EntityDescriptor) (string, bool) {
	for _, sd := range md.SPSSODescriptors {
		for _, ep := range sd.SingleLogoutServices {
			if ep.Binding != saml.SOAPBinding {
				continue
			}
			u, err := url.Parse(ep.Location)
			if err != nil || u.Host == "" {
				continue
			}
			if u.Scheme == "https" || (u.Scheme == "http" && isLoopback(u.Hostname())) {
				return ep.Location, true
			}
		}
	}
	return "", false
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// HasSOAPSLO reports whether the SP takes LogoutRequests over the SOAP binding.
func (p *IdP) HasSOAPSLO(ctx context.Context, sp *ServiceProvider) bool {
	md, err := sp.Metadata(ctx)
	if err != nil {
		return false
	}
	_, ok := soapSLOEndpoint(md)
	return ok
}

// ErrLogoutNotConfirmed: the SP answered a LogoutRequest with a status other than Success.
var ErrLogoutNotConfirmed = errors.New("samlidp: the service provider did not confirm the logout")

// SOAPLogout sends the SP a signed LogoutRequest for the NameID and SessionIndex it got at
// login over the SOAP binding, and checks its LogoutResponse: signed with a key of the SP's
// metadata, issued by the SP, in response to this request, with status Success. Redirects
// are not followed; the answer is read up to 64 KiB, within 5 seconds.
func (p *IdP) SOAPLogout(ctx context.Context, sp *ServiceProvider, nameID, nameIDFormat, sessionIndex string) error {
	md, err := sp.Metadata(ctx)
	if err != nil {
		return err
	}
	loc, ok := soapSLOEndpoint(md)
	if !ok {
		return ErrNoSLO
	}
	lr := p.logoutRequest(md, loc, nameID, nameIDFormat, sessionIndex)
	sc, err := p.signingContext()
	if err != nil {
		return err
	}
	signed, err := sc.SignEnveloped(lr.Element())
	if err != nil {
		return fmt.Errorf("samlidp: sign logout request: %w", err)
	}
	doc := etree.NewDocument()
	env := doc.CreateElement("soap11:Envelope")
	env.CreateAttr("xmlns:soap11", soapEnvelopeNS)
	env.CreateElement("soap11:Body").AddChild(signed)
	body, err := doc.WriteToBytes()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, soapTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, loc, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", "http://www.oasis-open.org/committees/security")
	resp, err := p.soapClient().Do(req)
	if err != nil {
		return fmt.Errorf("samlidp: soap logout to %s: %w", sp.ID, err)
	}
	defer resp.Body.Close() //nolint:errcheck // read-only body
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxSOAPResponse+1))
	if err != nil {
		return fmt.Errorf("samlidp: soap logout to %s: %w", sp.ID, err)
	}
	if resp.StatusCode != http.StatusOK || len(answer) > maxSOAPResponse {
		return fmt.Errorf("samlidp: soap logout to %s: status %d, %d bytes", sp.ID, resp.StatusCode, len(answer))
	}
	return parseSOAPLogoutResponse(answer, signingCerts(md), md.EntityID, lr.ID, p.opts.Now())
}

// soapClient is the IdP's outbound client for SOAP logout: no redirect is followed.
func (p *IdP) soapClient() *http.Client {
	c := *p.opts.HTTP
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// signingCerts are the certificates of the SP's metadata usable for signing.
func signingCerts(md *saml.EntityDescriptor) []*x509.Certificate {
	var out []*x509.Certificate
	for _, sd := range md.SPSSODescriptors {
		for _, kd := range sd.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for _, xc := range kd.KeyInfo.X509Data.X509Certificates {
				raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(xc.Data), ""))
				if err != nil {
					continue
				}
				if c, err := x509.ParseCertificate(raw); err == nil {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// parseSOAPLogoutResponse checks the SP's SOAP answer: exactly one LogoutResponse in the
// Body (no Fault), signed (enveloped) with one of certs, from issuer, in response to
// requestID, with status Success (ErrLogoutNotConfirmed otherwise).
func parseSOAPLogoutResponse(body []byte, certs []*x509.Certificate, issuer, requestID string, now time.Time) error {
	doc := etree.NewDocument()
	doc.ReadSettings.ValidateInput = true
	if err := doc.ReadFromBytes(body); err != nil {
		return fmt.Errorf("samlidp: soap logout response: %w", err)
	}
	root := doc.Root()
	if root == nil || root.Tag != "Envelope" || root.NamespaceURI() != soapEnvelopeNS {
		return errors.New("samlidp: soap logout response: not a SOAP envelope")
	}
	var bodyEl *etree.Element
	for _, c := range root.ChildElements() {
		if c.Tag == "Body" && c.NamespaceURI() == soapEnvelopeNS {
			bodyEl = c
		}
	}
	if bodyEl == nil || len(bodyEl.ChildElements()) != 1 {
		return errors.New("samlidp: soap logout response: the Body must hold exactly one element")
	}
	el := bodyEl.ChildElements()[0]
	if el.Tag != "LogoutResponse" || el.NamespaceURI() != samlProtocolNS {
		return fmt.Errorf("samlidp: soap logout response: got %s in the Body", el.Tag)
	}
	if len(certs) == 0 {
		return errors.New("samlidp: soap logout response: the SP's metadata has no signing certificate")
	}
	nsCtx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return fmt.Errorf("samlidp: soap logout response: %w", err)
	}
	if nsCtx, err = nsCtx.SubContext(el); err != nil {
		return fmt.Errorf("samlidp: soap logout response: %w", err)
	}
	detached, err := etreeutils.NSDetatch(nsCtx, el)
	if err != nil {
		return fmt.Errorf("samlidp: soap logout response: %w", err)
	}
	// Metadata certificates are trust anchors by themselves: their validity period is not
	// what SAML relies on (as crewjam does for the requests it verifies).
	anchors := make([]*x509.Certificate, len(certs))
	for i, c := range certs {
		cc := *c
		cc.NotBefore, cc.NotAfter = time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
		anchors[i] = &cc
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: anchors})
	vc.IdAttribute = "ID"
	vc.Clock = dsig.NewFakeClockAt(now)
	verified, err := vc.Validate(detached)
	if err != nil {
		return fmt.Errorf("samlidp: soap logout response signature: %w", err)
	}
	vdoc := etree.NewDocument()
	vdoc.SetRoot(verified)
	raw, err := vdoc.WriteToBytes()
	if err != nil {
		return err
	}
	var lr saml.LogoutResponse
	if err := xml.Unmarshal(raw, &lr); err != nil {
		return fmt.Errorf("samlidp: soap logout response: %w", err)
	}
	if lr.InResponseTo != requestID || lr.Issuer == nil || lr.Issuer.Value != issuer {
		return errors.New("samlidp: soap logout response: not from the SP, or not for this request")
	}
	if lr.Status.StatusCode.Value != saml.StatusSuccess {
		return fmt.Errorf("%w: %s", ErrLogoutNotConfirmed, lr.Status.StatusCode.Value)
	}
	return nil
}
