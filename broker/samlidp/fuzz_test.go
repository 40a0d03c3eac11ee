package samlidp

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/crewjam/saml"
)

// FuzzParseAuthnRequest feeds arbitrary AuthnRequest XML through both bindings (Redirect:
// deflate + base64 in the query, optionally with a raw query tail such as a signature; POST:
// base64 in the form). It must never panic, and whatever it accepts must name a configured
// SP and one of its registered assertion consumer services.
func FuzzParseAuthnRequest(f *testing.F) {
	signed := testSP(f, "https://signed.example.com", true)
	plain := testSP(f, "https://plain.example.com", false)
	p := newTestIdP(f, signed, plain)
	for _, sp := range []*saml.ServiceProvider{signed, plain} {
		u, err := sp.MakeRedirectAuthenticationRequest("relay")
		if err != nil {
			f.Fatal(err)
		}
		q := u.Query()
		raw, _ := base64.StdEncoding.DecodeString(q.Get("SAMLRequest"))
		xmlBytes, _ := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
		tail := ""
		if q.Has("Signature") {
			tail = "SigAlg=" + url.QueryEscape(q.Get("SigAlg")) + "&Signature=" + url.QueryEscape(q.Get("Signature"))
		}
		f.Add(false, xmlBytes, tail)
		f.Add(true, xmlBytes, "")
	}
	f.Add(false, []byte("<samlp:AuthnRequest/>"), "")
	f.Add(true, []byte("\x00\xff"), "RelayState=%zz")
	f.Fuzz(func(t *testing.T, post bool, payload []byte, tail string) {
		var r *http.Request
		if post {
			form := url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(payload)}, "RelayState": {tail}}
			r = httptest.NewRequest(http.MethodPost, p.ssoURL, strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			var buf bytes.Buffer
			fw, _ := flate.NewWriter(&buf, flate.DefaultCompression)
			_, _ = fw.Write(payload)
			_ = fw.Close()
			r = httptest.NewRequest(http.MethodGet, p.ssoURL, nil)
			// The raw query is set directly: a browser can send bytes url.Parse would refuse.
			r.URL.RawQuery = "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
			if tail != "" {
				r.URL.RawQuery += "&" + tail
			}
		}
		ar, err := p.ParseAuthnRequest(r)
		if err != nil {
			return
		}
		if ar.SP == nil || (ar.SP.ID != "spa" && ar.SP.ID != "spb") {
			t.Fatalf("accepted a request from %+v", ar.SP)
		}
		md, _ := ar.SP.Metadata(r.Context())
		if !acsRegistered(md, ar.ACSURL) {
			t.Fatalf("accepted ACS %q", ar.ACSURL)
		}
	})
}
