package samlidp

import (
	"crypto/x509"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"
)

// soapAnswer is what a crewjam SP writes as its SOAP LogoutResponse to requestID.
func soapAnswer(t testing.TB, sp *saml.ServiceProvider, requestID, status string) []byte {
	t.Helper()
	resp, err := sp.MakeSOAPLogoutResponse(requestID, saml.Status{StatusCode: saml.StatusCode{Value: status}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := saml.WriteSOAPLogoutResponse(rec, resp); err != nil {
		t.Fatal(err)
	}
	return rec.Body.Bytes()
}

// TestParseSOAPLogoutResponse: only a LogoutResponse signed by the SP, from the SP, to this
// request, with status Success confirms a back-channel logout (saml-profiles 4.4.3.3-4).
func TestParseSOAPLogoutResponse(t *testing.T) {
	const entity = "https://sp.example.com"
	sp := testSP(t, entity, true)
	unsigned := testSP(t, entity, true)
	unsigned.Key = nil
	other := keys()[0].cert // the IdP's own certificate: not the SP's
	ok := soapAnswer(t, sp, "id-req", saml.StatusSuccess)
	tests := []struct {
		name      string
		body      []byte
		certs     []*x509.Certificate
		issuer    string
		request   string
		wantErr   string
		confirmed bool
	}{
		{name: "signed success", body: ok, confirmed: true},
		{name: "refused", body: soapAnswer(t, sp, "id-req", saml.StatusResponder), wantErr: "did not confirm"},
		{name: "unsigned", body: soapAnswer(t, unsigned, "id-req", saml.StatusSuccess), wantErr: "signature"},
		{name: "signed by another key", body: ok, certs: []*x509.Certificate{other}, wantErr: "signature"},
		{name: "no certificate in metadata", body: ok, certs: []*x509.Certificate{}, wantErr: "no signing certificate"},
		{name: "another request", body: ok, request: "id-other", wantErr: "not for this request"},
		{name: "another issuer", body: ok, issuer: "https://evil.example.com", wantErr: "not from the SP"},
		{name: "tampered status", body: []byte(strings.Replace(string(soapAnswer(t, sp, "id-req", saml.StatusResponder)), saml.StatusResponder, saml.StatusSuccess, 1)), wantErr: "signature"},
		{name: "fault", body: []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault/></s:Body></s:Envelope>`), wantErr: "got Fault"},
		{name: "not an envelope", body: []byte(`<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`), wantErr: "not a SOAP envelope"},
		{name: "two elements", body: []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><a/><b/></s:Body></s:Envelope>`), wantErr: "exactly one"},
		{name: "not xml", body: []byte("HTTP/1.1 200 OK"), wantErr: "soap logout response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certs := []*x509.Certificate{sp.Certificate}
			if tt.certs != nil {
				certs = tt.certs
			}
			issuer, request := entity, "id-req"
			if tt.issuer != "" {
				issuer = tt.issuer
			}
			if tt.request != "" {
				request = tt.request
			}
			err := parseSOAPLogoutResponse(tt.body, certs, issuer, request, time.Now())
			if tt.confirmed != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("got %v, want confirmed=%v or an error with %q", err, tt.confirmed, tt.wantErr)
			}
		})
	}
}

// FuzzParseSOAPLogoutResponse: whatever an SP answers on the back channel, the parser never
// panics, and it confirms nothing but a LogoutResponse signed by the SP's key.
func FuzzParseSOAPLogoutResponse(f *testing.F) {
	const entity = "https://sp.example.com"
	sp := testSP(f, entity, true)
	f.Add(soapAnswer(f, sp, "id-req", saml.StatusSuccess))
	f.Add(soapAnswer(f, sp, "id-req", saml.StatusResponder))
	f.Add([]byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault/></s:Body></s:Envelope>`))
	certs := []*x509.Certificate{keys()[0].cert} // the IdP's key: nothing the SP signed verifies
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := parseSOAPLogoutResponse(body, certs, entity, "id-req", time.Now()); err == nil {
			t.Fatalf("confirmed a logout not signed with the trusted key:\n%s", body)
		}
	})
}
