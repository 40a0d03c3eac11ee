//go:build peers

package e2e

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/testpeer"
)

// TestIdentifierFirstInChromium drives the identifier-first sign-in (login.identifier_first)
// of the real binary in headless Chromium (e2e/node/identifier.mjs) against real peers:
//   - a local user: a username routes nowhere, so the list; after choosing Local, the
//     password step keeps the identifier; the next sign-in goes straight to the password step
//     (last used), an unknown user gets that same step and fails at the password;
//   - an LDAP user (a private slapd): lee@corp.example routes by connectors[].domains to the
//     LDAP connector's password step on the same page;
//   - a domain-routed OIDC upstream (npm oidc-provider): carol@partner.example goes straight
//     to the provider with login_hint, and back with a code;
//   - a routed provider that is down is named above the other ways to sign in, and a
//     malformed identifier gets the form back with a message.
//
// Screenshots go under the test's temp dir and, with GATEHOUSE_SCREENSHOTS, to that
// directory (prefixed "identifier-").
func TestIdentifierFirstInChromium(t *testing.T) {
	in := newInstance(t, false)
	ldapPW := "lee-" + randomString(t, 10)
	slapd, err := testpeer.StartSlapd(t.TempDir(), []testpeer.SlapdUser{{UID: "lee", Name: "Lee Directory", Mail: "lee@corp.example", Password: ldapPW}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(slapd.Stop)
	upSecret := "upstream-" + randomString(t, 16)
	up, err := testpeer.StartOIDCProvider(testpeer.OIDCProviderOptions{
		Dir:          filepath.Join(peers.root, "connectors", "oidc", "testdata", "peer"),
		RedirectURIs: []string{in.Issuer + "/callback/partner"}, ClientSecret: upSecret, Stderr: t.Output(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Stop)
	dead := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))

	q := func(s string) string { return fmt.Sprintf("%q", s) }
	extra := strings.Join([]string{
		"login: { identifier_first: true }",
		"connectors:",
		"  - type: ldap",
		"    id: corp",
		"    name: Corp directory",
		"    domains: [corp.example]",
		"    config:",
		"      host: " + q(slapd.URL),
		"      insecure_no_tls: true",
		"      bind_dn: " + q(testpeer.SlapdServiceDN),
		"      bind_password: " + q(slapd.ServicePassword),
		"      user_search: {base_dn: " + q(testpeer.SlapdPeopleDN) + ", filter: \"(objectClass=inetOrgPerson)\", username: [uid, mail],",
		"        id_attr: entryUUID, email_attr: mail, name_attr: cn, preferred_username_attr: uid}",
		"  - type: oidc",
		"    id: partner",
		"    name: Partner portal",
		"    domains: [partner.example]",
		"    config: {issuer: " + q(up.Issuer) + ", client_id: gatehouse, client_secret: " + q(upSecret) + ", scopes: [openid, email, profile], get_userinfo: true}",
		"  - type: oidc",
		"    id: suppliers",
		"    name: Supplier SSO",
		"    domains: [supplier.example]",
		"    config: {issuer: " + q(dead) + ", client_id: gatehouse, client_secret: x}",
		"",
	}, "\n")
	cfg, err := os.ReadFile(in.Config)
	if err != nil {
		t.Fatal(err)
	}
	patched := strings.Replace(string(cfg), "connectors:\n", extra, 1)
	if patched == string(cfg) {
		t.Fatal("the instance config has no connectors: section to extend")
	}
	if err := os.WriteFile(in.Config, []byte(patched), 0o600); err != nil {
		t.Fatal(err)
	}
	serve(t, in)

	shots := filepath.Join(t.TempDir(), "screenshots")
	v := url.Values{"client_id": {in.Client.ID}, "redirect_uri": {in.Client.RedirectURI}, "response_type": {"code"}, "scope": {"openid email profile"},
		"state": {"e2e-state"}, "nonce": {"e2e-nonce"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	out := runNode(t, "identifier.mjs", map[string]string{
		"E2E_ISSUER": in.Issuer, "E2E_USERNAME": in.User.Username, "E2E_PASSWORD": in.User.Password,
		"E2E_CHROMIUM": peers.chromium, "SCREENSHOT_DIR": shots,
		"E2E_AUTH_URL": in.Issuer + "/authorize?" + v.Encode(), "E2E_REDIRECT_URI": in.Client.RedirectURI,
		"E2E_LDAP_USER": "lee@corp.example", "E2E_LDAP_PASSWORD": ldapPW,
		"E2E_UPSTREAM": up.Issuer, "E2E_UPSTREAM_USER": "carol", "E2E_UPSTREAM_PASSWORD": "password",
	})
	if !strings.Contains(out, "PASS") {
		t.Fatal("identifier.mjs exited 0 without reporting PASS")
	}
	pngs, err := filepath.Glob(filepath.Join(shots, "*.png"))
	if err != nil || len(pngs) < 8 {
		t.Fatalf("screenshots %v (%v), want at least 8", pngs, err)
	}
	if dir := os.Getenv("GATEHOUSE_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range pngs {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "identifier-"+filepath.Base(p)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
