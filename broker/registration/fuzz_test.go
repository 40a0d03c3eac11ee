package registration

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/config"
)

// FuzzParseMetadata feeds registration request bodies to the parser: it never panics, an
// error is always invalid_client_metadata or invalid_software_statement, and what it accepts
// stays within the bounds and survives the policy check without a panic.
func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{
		`{"redirect_uris":["https://app.example.com/cb"]}`,
		`{"redirect_uris":"x","grant_types":[1]}`,
		`{"jwks":{"keys":[]},"scope":"openid profile","client_name":"n"}`,
		`{"jwks":"x"}`, `[]`, `null`, `{}{}`, `{"a":`,
		`{"token_endpoint_auth_method":"none","response_types":["code"],"software_statement":"a.b.c"}`,
	} {
		f.Add([]byte(s))
	}
	policy := config.Registration{GrantTypes: config.DefaultRegistrationGrantTypes,
		TokenEndpointAuthMethods: config.DefaultRegistrationAuthMethods, AllowedRedirectHosts: []string{"example.com"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseMetadata(body)
		if err != nil {
			if e := oauth2err.As(err); e.Code != oauth2err.InvalidClientMetadata && e.Code != oauth2err.InvalidSoftwareStatement {
				t.Fatalf("error code %s for %q", e.Code, body)
			}
			return
		}
		if len(m.RedirectURIs) > maxList || len(m.ClientName) > maxNameSize || len(m.JWKS) > maxJWKS {
			t.Fatalf("accepted out of bounds: %+v", m)
		}
		if len(m.JWKS) > 0 && !json.Valid(m.JWKS) {
			t.Fatalf("accepted jwks that is not JSON: %q", m.JWKS)
		}
		if _, err := toClient(&policy, m, "fuzz", nil); err != nil {
			if c := oauth2err.As(err).Code; c != oauth2err.InvalidClientMetadata && c != oauth2err.InvalidRedirectURI {
				t.Fatalf("policy error code %s", c)
			}
		}
	})
}

// FuzzRedirectAllowed checks the host-suffix rule: an allowed URI's host is the suffix or
// ends with "." + it, over https or on loopback.
func FuzzRedirectAllowed(f *testing.F) {
	for _, s := range []string{"https://app.example.com/cb", "https://evilexample.com/", "http://127.0.0.1:8/cb",
		"https://example.com.evil.net/", "https://user@example.com/", "javascript:alert(1)//example.com"} {
		f.Add(s)
	}
	p := &config.Registration{AllowedRedirectHosts: []string{"example.com"}}
	f.Fuzz(func(t *testing.T, raw string) {
		if !RedirectAllowed(p, raw) {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("allowed an unparsable URI %q", raw)
		}
		h := strings.ToLower(u.Hostname())
		if u.Scheme == "https" && h != "example.com" && !strings.HasSuffix(h, ".example.com") {
			t.Fatalf("allowed %q on host %q", raw, h)
		}
	})
}
