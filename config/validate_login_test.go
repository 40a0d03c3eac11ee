package config

import (
	"strings"
	"testing"
)

// loginConfig is an identifier-first configuration with home-realm discovery; %s is replaced
// by the partner connector's domains.
const loginConfig = `
issuer: https://login.example
web: {http: "127.0.0.1:5556"}
login: { identifier_first: true }
connectors:
  - {type: local, id: local}
  - type: oidc
    id: corp
    domains: [corp.example, eu.corp.example]
  - {type: oidc, id: partner, domains: %s}
`

// TestLoginConfig: login.identifier_first and connectors[].domains decode strictly; every
// malformed or doubly claimed domain is a problem at its file:line, a domain claimed by two
// connectors naming both and the line of the first claim.
func TestLoginConfig(t *testing.T) {
	tests := []struct {
		name, domains string
		want          []string // substrings of the error; none: valid
	}{
		{"valid", "[partner.example]", nil},
		{"none", "[]", nil},
		{"claimed twice", "[corp.example]", []string{
			`gatehouse.yaml:10: connectors[2].domains[0]: domain "corp.example" is claimed by connectors "corp" and "partner" (gatehouse.yaml:9)`}},
		{"listed twice", "[p.example, p.example]", []string{`gatehouse.yaml:10: connectors[2].domains[1]: domain "p.example" is listed twice for connector "partner"`}},
		{"uppercase", "[Partner.example]", []string{`connectors[2].domains[0]: "Partner.example" is not a domain`}},
		{"an email", "[bob@partner.example]", []string{`"bob@partner.example" is not a domain`}},
		{"a URL", `["https://partner.example"]`, []string{`"https://partner.example" is not a domain`}},
		{"one label", "[localhost]", []string{`"localhost" is not a domain`}},
		{"empty label", "[partner..example]", []string{`"partner..example" is not a domain`}},
		{"leading dash", "[-p.example]", []string{`"-p.example" is not a domain`}},
		{"wildcard", `["*.partner.example"]`, []string{`"*.partner.example" is not a domain`}},
		{"too long", "[" + strings.Repeat("a", 250) + ".example]", []string{"is not a domain"}},
		{"every problem at once", "[corp.example, X.example]", []string{`"corp.example" is claimed by`, `"X.example" is not a domain`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(strings.Replace(loginConfig, "%s", tt.domains, 1)), "gatehouse.yaml", nil)
			if err != nil {
				t.Fatal(err)
			}
			c.ApplyDefaults()
			err = c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !c.Login.IdentifierFirst || len(c.Connectors[1].Domains) != 2 {
					t.Fatalf("decoded login %+v, domains %q", c.Login, c.Connectors[1].Domains)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nlacks %q", err, w)
				}
			}
		})
	}
}

// TestLoginUnknownKey: a misspelt key under login is refused with its line.
func TestLoginUnknownKey(t *testing.T) {
	y := strings.Replace(strings.Replace(loginConfig, "%s", "[]", 1), "identifier_first", "identifer_first", 1)
	_, err := Parse([]byte(y), "gatehouse.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), "gatehouse.yaml:4") || !strings.Contains(err.Error(), "identifer_first") {
		t.Fatalf("err = %v, want an unknown-key error at gatehouse.yaml:4", err)
	}
}

// FuzzDomainOK: DomainOK never panics, and what it accepts is a bounded lowercase DNS name
// without '@', '/', ':' or spaces.
func FuzzDomainOK(f *testing.F) {
	for _, s := range []string{"corp.example", "a.b", "", ".", "a..b", "A.b", "a@b.c", "xn--bcher-kva.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if DomainOK(s) && (len(s) > MaxDomainLen || strings.ContainsAny(s, "@/: \t") || strings.ToLower(s) != s || !strings.Contains(s, ".")) {
			t.Fatalf("accepted %q", s)
		}
	})
}
