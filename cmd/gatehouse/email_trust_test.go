package main

import (
	"strings"
	"testing"
)

// emailTrustConfig is a configuration with one connector block (%s) and a client whose
// requirement is filled in per case.
const emailTrustConfig = `issuer: http://127.0.0.1:5556
storage: {type: sqlite, config: {file: gh.db}}
connectors:
%s
  - type: oidc
    id: sso
    config: {issuer: https://sso.example.com, client_id: c, client_secret: s}
    claims: {link: link_verified_email}
clients:
  - id: app
    secret: s3cret
    redirect_uris: ["https://app.example.com/cb"]
%s
`

const (
	ldapBlock = `  - type: ldap
    id: corp
    config:
      host: ldap.example.org:636
      bind_dn: cn=gatehouse,dc=example,dc=org
      bind_password: pw
      user_search: {base_dn: "ou=people,dc=example,dc=org", username: [uid]}%s
    claims:
%s`
	samlBlock = `  - type: saml
    id: okta
    config:
      idp_metadata_url: https://idp.example.com/metadata%s
    claims:
%s`
	giteaBlock = `  - type: gitea
    id: gt
    config:
      client_id: c
      client_secret: s%s
    claims:
%s`
	gitlabBlock = `  - type: gitlab
    id: gl
    config:
      client_id: c
      client_secret: s%s
    claims:
%s`
)

// TestCheckConfigRefusesUnprovenEmails runs check-config over connectors that cannot prove an
// email verified unless told to trust it.
// Attack (issue 25.2): with an LDAP connector (self-editable mail) and link:
// link_verified_email, a user who sets her mail to a colleague's address signs in as the
// colleague; the same with email_domains requirements, SAML IdPs without trust_email and
// self-managed GitLab. Such configurations are refused at config time, naming the key and
// its line, unless the connector says trust_email: true.
func TestCheckConfigRefusesUnprovenEmails(t *testing.T) {
	tests := []struct {
		name      string
		block     string
		extra     string // connector config lines
		claims    string
		clientReq string
		want      string // "" means valid
	}{
		{"ldap link_verified_email", ldapBlock, "", "      link: link_verified_email", "",
			"cfg.yaml:12: connectors[0].claims.link: link_verified_email needs a connector that can prove an email verified; ldap connector \"corp\" cannot: set config.trust_email: true"},
		{"ldap email_domains requirement", ldapBlock, "", "      require: {email_domains: [example.org]}", "",
			"cfg.yaml:12: connectors[0].claims.require.email_domains"},
		{"ldap trust_email", ldapBlock, "\n      trust_email: true", "      link: link_verified_email", "", ""},
		{"ldap without email policies", ldapBlock, "", "      link: create", "", ""},
		{"client requirement on an ldap-only client", ldapBlock, "", "      link: create",
			"    allowed_connectors: [corp]\n    require: {email_domains: [example.org]}", "clients[0].require.email_domains"},
		{"client requirement with trust_email", ldapBlock, "\n      trust_email: true", "      link: create",
			"    allowed_connectors: [corp]\n    require: {email_domains: [example.org]}", ""},
		{"saml link_verified_email", samlBlock, "", "      link: link_verified_email", "", "config.trust_email"},
		{"saml trust_email", samlBlock, "\n      trust_email: true", "      link: link_verified_email", "", ""},
		{"self-managed gitlab", gitlabBlock, "\n      base_url: https://gitlab.example.com", "      link: link_verified_email", "", "config.trust_email"},
		{"self-managed gitlab trusted", gitlabBlock, "\n      base_url: https://gitlab.example.com\n      trust_email: true", "      link: link_verified_email", "", ""},
		{"gitlab.com", gitlabBlock, "", "      link: link_verified_email", "", ""},
		// Every Gitea/Forgejo is someone's instance: its emails need trust_email (issue 20.4).
		{"gitea", giteaBlock, "\n      base_url: https://gitea.example.com", "      link: link_verified_email", "", "config.trust_email"},
		{"gitea trusted", giteaBlock, "\n      base_url: https://gitea.example.com\n      trust_email: true", "      link: link_verified_email", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			block := strings.Replace(strings.Replace(tt.block, "%s", tt.extra, 1), "%s", tt.claims, 1)
			body := strings.Replace(strings.Replace(emailTrustConfig, "%s", block, 1), "%s", tt.clientReq, 1)
			p := writeFile(t, t.TempDir(), "cfg.yaml", body)
			out, errs, err := runCmd("check-config", p)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("check-config: %v\n%s%s\nconfig:\n%s", err, out, errs, body)
				}
				return
			}
			if err == nil || !strings.Contains(errs, tt.want) {
				t.Fatalf("check-config = %v\n%s\nwant %q\nconfig:\n%s", err, errs, tt.want, body)
			}
		})
	}
}

// TestCheckConfigRefusesGroupRequirementsOnAnyTenant: claims-level group requirements on a
// Microsoft connector at a multi-tenant endpoint need allowed_tenants.
// Attack (issue 25.1): on tenant common any Entra tenant's users sign in, each with groups of
// a tenant they may control, so a requirement on groups is met by whoever wants to.
func TestCheckConfigRefusesGroupRequirementsOnAnyTenant(t *testing.T) {
	const base = `issuer: http://127.0.0.1:5556
storage: {type: sqlite, config: {file: gh.db}}
connectors:
  - type: microsoft
    id: ms
    config:
      client_id: c
      client_secret: s%s
    claims:
      require: {groups: [aaaaaaaa-0000-4000-8000-000000000006]}
clients:
  - id: app
    secret: s3cret
    redirect_uris: ["https://app.example.com/cb"]
    allowed_connectors: [ms]
    require: {groups: [aaaaaaaa-0000-4000-8000-000000000006]}
`
	for _, tt := range []struct {
		name, extra string
		want        []string
	}{
		{"common", "", []string{"cfg.yaml:10: connectors[0].claims.require.groups", "clients[0].require.groups", "config.allowed_tenants"}},
		{"common with allowed_tenants", "\n      allowed_tenants: [11111111-2222-3333-4444-555555555555]", nil},
		{"single tenant", "\n      tenant: 11111111-2222-3333-4444-555555555555", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "cfg.yaml", strings.Replace(base, "%s", tt.extra, 1))
			_, errs, err := runCmd("check-config", p)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("check-config: %v\n%s", err, errs)
				}
				return
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(errs, w) {
					t.Errorf("check-config = %v\n%s\nwant %q", err, errs, w)
				}
			}
		})
	}
}
