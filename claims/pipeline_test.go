package claims

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// parseConfig parses a YAML configuration, applies defaults and validates it.
func parseConfig(t testing.TB, yml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yml), "test.yaml", nil)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return cfg
}

// newTest builds a dry-run Normalizer (in-memory links with predictable IDs).
func newTest(t testing.TB, yml string) *Normalizer {
	t.Helper()
	n, err := New(parseConfig(t, yml), Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n
}

const connectorYAML = `
connectors:
  - type: ldap
    id: corp
    name: Corp
    claims:
`

// marshal encodes v as JSON without HTML escaping, as compact text.
func marshal(t testing.TB, v any) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestMap(t *testing.T) {
	up := connectors.Upstream{
		Subject: "u1", Username: "ann", Email: "Ann@Example.com", EmailVerified: true, Name: "Ann E.",
		Groups: []string{"eng-a", "staff"},
		Attrs:  map[string][]string{"displayName": {"Ann Example"}, "department": {"R&D"}, "mail": {"ann@corp.example"}, "n": {"3"}},
		ACR:    "urn:mfa", AMR: []string{"pwd", "otp"},
	}
	tests := []struct {
		name string
		rule string // claims.map entries
		want storage.Identity
	}{
		{"defaults", ``, storage.Identity{Email: "Ann@Example.com", EmailVerified: true, Name: "Ann E.", PreferredUsername: "ann", Groups: []string{"eng-a", "staff"}}},
		{"override name and groups", `
name: "attrs.displayName[0]"
groups: "groups.map(g, g.upperAscii())"`, storage.Identity{Email: "Ann@Example.com", EmailVerified: true, Name: "Ann Example", PreferredUsername: "ann", Groups: []string{"ENG-A", "STAFF"}}},
		{"custom claims go to Extra", `
department: "attrs.department[0]"
level: "int(attrs.n[0]) + 1"
mfa: "'otp' in amr"
info: "{'acr': acr, 'groups': size(groups)}"`, storage.Identity{Email: "Ann@Example.com", EmailVerified: true, Name: "Ann E.", PreferredUsername: "ann", Groups: []string{"eng-a", "staff"},
			Extra: map[string]any{"department": "R&D", "level": int64(4), "mfa": true, "info": map[string]any{"acr": "urn:mfa", "groups": int64(2)}}}},
		{"missing attribute leaves the claim out", `
name: "attrs.nickname[0]"
team: "attrs.team[0]"`, storage.Identity{Email: "Ann@Example.com", EmailVerified: true, PreferredUsername: "ann", Groups: []string{"eng-a", "staff"}}},
		{"empty optional leaves the claim out", `
team: "attrs.?team[0]"
dept: "attrs.?department[0]"`, storage.Identity{Email: "Ann@Example.com", EmailVerified: true, Name: "Ann E.", PreferredUsername: "ann", Groups: []string{"eng-a", "staff"},
			Extra: map[string]any{"dept": "R&D"}}},
		{"a different mapped email is not verified", `
email: "attrs.mail[0]"`, storage.Identity{Email: "ann@corp.example", Name: "Ann E.", PreferredUsername: "ann", Groups: []string{"eng-a", "staff"}}},
		{"the same email mapped keeps verification", `
email: "email.lowerAscii()"`, storage.Identity{Email: "ann@example.com", EmailVerified: true, Name: "Ann E.", PreferredUsername: "ann", Groups: []string{"eng-a", "staff"}}},
		{"email_verified mapped explicitly", `
email: "attrs.mail[0]"
email_verified: "attrs.mail[0].endsWith('@corp.example')"`, storage.Identity{Email: "ann@corp.example", EmailVerified: true, Name: "Ann E.", PreferredUsername: "ann", Groups: []string{"eng-a", "staff"}}},
		{"empty email is never verified", `
email: "''"
email_verified: "true"`, storage.Identity{Name: "Ann E.", PreferredUsername: "ann", Groups: []string{"eng-a", "staff"}}},
		{"dyn result checked at run time", `
name: "attrs.n.size() > 0 ? attrs.n[0] : 'x'"`, storage.Identity{Email: "Ann@Example.com", EmailVerified: true, Name: "3", PreferredUsername: "ann", Groups: []string{"eng-a", "staff"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yml := connectorYAML
			if tt.rule != "" {
				yml += "      map:\n" + indent(tt.rule, 8)
			} else {
				yml += "      link: create\n"
			}
			n := newTest(t, yml)
			got, err := n.Normalize(context.Background(), "corp", up)
			if err != nil {
				t.Fatal(err)
			}
			got.Subject = ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Normalize() =\n %#v\nwant\n %#v", got, tt.want)
			}
		})
	}
}

func TestMapRuntimeCostLimit(t *testing.T) {
	n := newTest(t, connectorYAML+`      map:
        pairs: "attrs.x.filter(a, attrs.y.exists(b, b == a)).size()"
`)
	small := connectors.Upstream{Subject: "s", Attrs: map[string][]string{"x": {"a", "b"}, "y": {"b", "a"}}}
	id, err := n.Normalize(context.Background(), "corp", small)
	if err != nil || id.Extra["pairs"] != int64(2) {
		t.Fatalf("small input: %v, %v", id.Extra, err)
	}
	// Far beyond the size hints the estimate assumed: stopped at run time. (A small run-time
	// limit keeps the test fast; every cost unit is real work.)
	env, err := newEnv(upstreamVars)
	if err != nil {
		t.Fatal(err)
	}
	e, err := compileLimit(env, "pairs", n.rules.connectors["corp"].maps[0].source, 20_000)
	if err != nil {
		t.Fatal(err)
	}
	n.rules.connectors["corp"].maps[0] = e
	x, y := make([]string, 300), make([]string, 300)
	for i := range x {
		x[i], y[i] = fmt.Sprint("x", i), fmt.Sprint("y", i)
	}
	_, err = n.Normalize(context.Background(), "corp", connectors.Upstream{Subject: "b", Attrs: map[string][]string{"x": x, "y": y}})
	if err == nil || !strings.Contains(err.Error(), "cost limit") {
		t.Fatalf("huge input: err = %v, want a cost limit error", err)
	}
}

func TestFilterGroups(t *testing.T) {
	in := []string{"eng-web", "eng-db", "admins", "sysadmins", "staff", "eng-secret", "contractors", "Admins"}
	tests := []struct {
		name  string
		rules string
		want  []string
	}{
		{"none", `{prefix: ""}`, in},
		{"allow plain names match exactly", `{allow: [admins, staff]}`, []string{"admins", "staff"}},
		{"allow regex", `{allow: ["^eng-", admins]}`, []string{"eng-web", "eng-db", "admins", "eng-secret"}},
		{"a plain name is not a substring match", `{allow: ["admin"]}`, []string{}},
		{"unanchored regex", `{allow: ["admin.*"]}`, []string{"admins", "sysadmins"}},
		{"regex with syntax", `{allow: ["(?i)^admins$"]}`, []string{"admins", "Admins"}},
		{"deny after allow", `{allow: ["^eng-"], deny: ["secret$"]}`, []string{"eng-web", "eng-db"}},
		{"deny only", `{deny: [contractors, "^eng-"]}`, []string{"admins", "sysadmins", "staff", "Admins"}},
		{"rename and prefix", `{allow: [admins, staff, Admins], rename: {Admins: admins, staff: employees}, prefix: "corp:"}`, []string{"corp:admins", "corp:employees"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTest(t, connectorYAML+"      groups: "+tt.rules+"\n")
			got, err := n.Normalize(context.Background(), "corp", connectors.Upstream{Subject: "x", Groups: slices.Clone(in)})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Groups, tt.want) && (len(got.Groups) != 0 || len(tt.want) != 0) {
				t.Errorf("groups = %q, want %q", got.Groups, tt.want)
			}
		})
	}
}

func TestAuthorizeConnector(t *testing.T) {
	const rules = connectorYAML + `      groups: {allow: ["^eng-"], prefix: "corp:"}
      require: {groups: [staff, admins], email_domains: [example.com]}
`
	tests := []struct {
		name   string
		up     connectors.Upstream
		denied string // substring of the reason; "" = allowed
	}{
		{"member by upstream name, though filtered out", connectors.Upstream{Subject: "1", Email: "a@example.com", EmailVerified: true, Groups: []string{"staff"}}, ""},
		{"domain compared lowercased", connectors.Upstream{Subject: "1", Email: "a@EXAMPLE.com", EmailVerified: true, Groups: []string{"admins"}}, ""},
		{"not in a required group", connectors.Upstream{Subject: "1", Email: "a@example.com", EmailVerified: true, Groups: []string{"eng-x"}}, "not in a group"},
		{"prefixed name does not count", connectors.Upstream{Subject: "1", Email: "a@example.com", EmailVerified: true, Groups: []string{"corp:staff"}}, "not in a group"},
		{"unverified email", connectors.Upstream{Subject: "1", Email: "a@example.com", Groups: []string{"staff"}}, "no verified email"},
		{"other domain", connectors.Upstream{Subject: "1", Email: "a@example.org", EmailVerified: true, Groups: []string{"staff"}}, "not in a domain"},
		{"subdomain is another domain", connectors.Upstream{Subject: "1", Email: "a@evil.example.com", EmailVerified: true, Groups: []string{"staff"}}, "not in a domain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTest(t, rules)
			_, err := n.Normalize(context.Background(), "corp", tt.up)
			var denied *connectors.DeniedError
			switch {
			case tt.denied == "" && err != nil:
				t.Fatalf("denied: %v", err)
			case tt.denied != "" && (!errors.As(err, &denied) || !strings.Contains(denied.Reason, tt.denied)):
				t.Fatalf("err = %v, want a DeniedError containing %q", err, tt.denied)
			}
			if tt.denied != "" && len(n.Links.(*dryLinks).links) != 0 {
				t.Errorf("a denied user was linked")
			}
		})
	}
}

const twoConnectors = `
connectors:
  - {type: ldap, id: corp, claims: {link: %s}}
  - {type: github, id: gh, claims: {link: %s}}
  - {type: oidc, id: google, claims: {link: %s}}
`

func linkConfig(policy string) string {
	return strings.ReplaceAll(twoConnectors, "%s", policy)
}

func TestLinking(t *testing.T) {
	ctx := context.Background()
	ann := func(sub string, verified bool) connectors.Upstream {
		return connectors.Upstream{Subject: sub, Email: "ann@example.com", EmailVerified: verified}
	}
	t.Run("link_verified_email: same verified email on two connectors is one sub", func(t *testing.T) {
		n := newTest(t, linkConfig("link_verified_email"))
		a, err := n.Normalize(ctx, "corp", ann("uid=ann", true))
		if err != nil {
			t.Fatal(err)
		}
		b, err := n.Normalize(ctx, "gh", connectors.Upstream{Subject: "4242", Email: "ANN@example.COM", EmailVerified: true})
		if err != nil {
			t.Fatal(err)
		}
		if a.Subject != b.Subject {
			t.Errorf("subs differ: %s, %s", a.Subject, b.Subject)
		}
		// Stable afterwards, on both.
		a2, _ := n.Normalize(ctx, "corp", ann("uid=ann", true))
		b2, _ := n.Normalize(ctx, "gh", ann("4242", true))
		if a2.Subject != a.Subject || b2.Subject != a.Subject {
			t.Errorf("sub not stable")
		}
	})
	t.Run("link_verified_email: unverified on either side never links", func(t *testing.T) {
		n := newTest(t, linkConfig("link_verified_email"))
		a, _ := n.Normalize(ctx, "corp", ann("uid=ann", false)) // first account unverified: no email recorded
		b, _ := n.Normalize(ctx, "gh", ann("4242", true))
		c, _ := n.Normalize(ctx, "google", ann("g-1", false)) // new account unverified
		if a.Subject == b.Subject || b.Subject == c.Subject || a.Subject == c.Subject {
			t.Errorf("linked on an unverified email: %s %s %s", a.Subject, b.Subject, c.Subject)
		}
	})
	t.Run("link_verified_email: an email marked not linkable (Apple private relay) never links, either way", func(t *testing.T) {
		n := newTest(t, linkConfig("link_verified_email"))
		relay := func(sub string) connectors.Upstream {
			return connectors.Upstream{Subject: sub, Email: "ann@example.com", EmailVerified: true, EmailNotLinkable: true}
		}
		a, err := n.Normalize(ctx, "corp", ann("uid=ann", true))
		if err != nil {
			t.Fatal(err)
		}
		b, err := n.Normalize(ctx, "gh", relay("4242"))
		if err != nil {
			t.Fatal(err)
		}
		if a.Subject == b.Subject || !b.EmailVerified {
			t.Errorf("private address linked to ann (%s, %s) or not verified (%v)", a.Subject, b.Subject, b.EmailVerified)
		}
		// The private account recorded no linking email: a later account is not linked to it.
		c, _ := n.Normalize(ctx, "google", relay("g-1"))
		d, _ := n.Normalize(ctx, "google", ann("g-2", true))
		if c.Subject == b.Subject || d.Subject == b.Subject || d.Subject != a.Subject {
			t.Errorf("subs %s %s %s, ann %s", b.Subject, c.Subject, d.Subject, a.Subject)
		}
	})
	t.Run("link_verified_email: a mapped, unverified email never links", func(t *testing.T) {
		n := newTest(t, `
connectors:
  - {type: ldap, id: corp, claims: {link: link_verified_email}}
  - type: github
    id: gh
    claims: {link: link_verified_email, map: {email: "attrs.mail[0]"}}
`)
		a, _ := n.Normalize(ctx, "corp", ann("uid=ann", true))
		// The upstream verified another address; the mapped one is attacker-chosen.
		b, err := n.Normalize(ctx, "gh", connectors.Upstream{Subject: "evil", Email: "evil@example.net", EmailVerified: true,
			Attrs: map[string][]string{"mail": {"ann@example.com"}}})
		if err != nil {
			t.Fatal(err)
		}
		if a.Subject == b.Subject {
			t.Errorf("linked to ann through a mapped, unverified email")
		}
	})
	t.Run("create never links, but records the email", func(t *testing.T) {
		n := newTest(t, `
connectors:
  - {type: ldap, id: corp}
  - {type: github, id: gh, claims: {link: link_verified_email}}
  - {type: oidc, id: google}
`)
		a, _ := n.Normalize(ctx, "corp", ann("uid=ann", true))
		c, _ := n.Normalize(ctx, "google", ann("g-1", true))
		if a.Subject == c.Subject {
			t.Errorf("create policy linked accounts")
		}
		// gh links by email, but two users now carry it: no guessing, a new user.
		b, _ := n.Normalize(ctx, "gh", ann("4242", true))
		if b.Subject == a.Subject || b.Subject == c.Subject {
			t.Errorf("linked to one of several users with the email")
		}
	})
	t.Run("deny_unknown", func(t *testing.T) {
		n := newTest(t, `
connectors:
  - {type: ldap, id: corp}
  - {type: github, id: gh, claims: {link: deny_unknown}}
`)
		var denied *connectors.DeniedError
		if _, err := n.Normalize(ctx, "gh", ann("4242", true)); !errors.As(err, &denied) || denied.Reason != notProvisioned {
			t.Fatalf("unknown user: err = %v, want %q", err, notProvisioned)
		}
		a, _ := n.Normalize(ctx, "corp", ann("uid=ann", true))
		if _, err := n.Normalize(ctx, "gh", ann("4242", false)); !errors.As(err, &denied) {
			t.Fatalf("unverified email admitted: %v", err)
		}
		b, err := n.Normalize(ctx, "gh", ann("4242", true))
		if err != nil || b.Subject != a.Subject {
			t.Fatalf("provisioned user: %v, sub %s want %s", err, b.Subject, a.Subject)
		}
		// Once linked, the account stays admitted even if its email changes.
		b2, err := n.Normalize(ctx, "gh", connectors.Upstream{Subject: "4242", Email: "new@example.com"})
		if err != nil || b2.Subject != a.Subject {
			t.Fatalf("linked account after email change: %v", err)
		}
	})
	t.Run("a changed email stops matching", func(t *testing.T) {
		n := newTest(t, linkConfig("link_verified_email"))
		a, _ := n.Normalize(ctx, "corp", ann("uid=ann", true))
		// Ann's corp account moves to another address; the old one is reassigned.
		if _, err := n.Normalize(ctx, "corp", connectors.Upstream{Subject: "uid=ann", Email: "ann.old@example.com", EmailVerified: true}); err != nil {
			t.Fatal(err)
		}
		b, _ := n.Normalize(ctx, "gh", ann("someone-else", true))
		if b.Subject == a.Subject {
			t.Errorf("linked through an email the account no longer has")
		}
	})
	t.Run("without an EmailLinkStore", func(t *testing.T) {
		cfg := parseConfig(t, linkConfig("link_verified_email"))
		_, err := New(cfg, Options{Links: newMemLinks()})
		var ce *config.Errors
		if !errors.As(err, &ce) || len(ce.Problems) != 3 || !strings.Contains(ce.Problems[0].Error(), "test.yaml:3: connectors[0].claims.link") {
			t.Fatalf("New() = %v; want three problems citing test.yaml:3", err)
		}
		cfg = parseConfig(t, linkConfig("create"))
		links := newMemLinks()
		n, err := New(cfg, Options{Links: links, Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		id, err := n.Normalize(ctx, "corp", ann("x", true))
		if err != nil || links.created != 1 || len(id.Subject) != 32 {
			t.Fatalf("create via LinkUser: %v, %d links", err, links.created)
		}
	})
}

const clientsYAML = `
pairwise_salt: "salt-0123456789abcdef"
connectors:
  - type: ldap
    id: corp
    claims:
      map:
        department: "attrs.department[0]"
        badge: "{'n': 7, 'tags': ['a']}"
      groups: {prefix: "corp:"}
clients:
  - id: grafana
    secret: s
    redirect_uris: ["https://grafana.example.com/cb", "https://GRAFANA.example.com:8443/other"]
    subject_type: pairwise
    require: {groups: ["corp:admins"]}
    claims:
      extra:
        role: "'corp:admins' in groups ? 'admin' : 'viewer'"
        who: "subject"
        dept: "claims.department"
        bad: "claims.nothing"
      hardcoded: {tenant: acme, limits: {max: 3}, name: "Fixed"}
  - id: wiki
    secret: s
    redirect_uris: ["https://wiki.example.org/cb"]
    subject_type: pairwise
  - id: plain
    secret: s
    redirect_uris: ["https://plain.example.org/cb"]
scopes:
  - name: department
    claims: [department, badge]
  - name: org
    description: Your organisation
    claims: [groups, email]
`

func TestEmit(t *testing.T) {
	n := newTest(t, clientsYAML)
	id, err := n.Normalize(context.Background(), "corp", connectors.Upstream{
		Subject: "u", Username: "ann", Email: "ann@example.com", EmailVerified: true, Name: "Ann",
		Groups: []string{"admins"}, Attrs: map[string][]string{"department": {"R&D"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	auth := storage.Authentication{ConnectorID: "corp"}
	tests := []struct {
		name, client string
		scopes       []string
		want         string
	}{
		{"built-in scopes only", "plain", []string{"openid", "profile"}, `{"name":"Ann","preferred_username":"ann"}`},
		{"custom scope releases mapped claims", "plain", []string{"openid", "department"}, `{"badge":{"n":7,"tags":["a"]},"department":"R&D"}`},
		{"custom scope releasing standard claims", "plain", []string{"openid", "org"}, `{"email":"ann@example.com","groups":["corp:admins"]}`},
		{"no custom scope, no custom claims", "plain", []string{"openid", "email", "groups"}, `{"email":"ann@example.com","email_verified":true,"groups":["corp:admins"]}`},
		{"client extra and hardcoded (hardcoded wins)", "grafana", []string{"openid", "profile"},
			`{"dept":"R&D","limits":{"max":3},"name":"Fixed","preferred_username":"ann","role":"admin","tenant":"acme","who":"` + n.SubjectFor("grafana", id.Subject) + `"}`},
		{"unknown client", "nobody", []string{"openid", "email"}, `{"email":"ann@example.com","email_verified":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := marshal(t, n.Claims(tt.client, id, auth, tt.scopes))
			if got != tt.want {
				t.Errorf("Claims() = %s\nwant       %s", got, tt.want)
			}
		})
	}
	t.Run("identity survives a JSON round trip through storage", func(t *testing.T) {
		b, _ := json.Marshal(id)
		var back storage.Identity
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		got := marshal(t, n.Claims("grafana", back, auth, []string{"openid", "department"}))
		if !strings.Contains(got, `"dept":"R&D"`) || !strings.Contains(got, `"badge":{"n":7`) {
			t.Errorf("Claims() after round trip = %s", got)
		}
	})
}

func TestCustomScopes(t *testing.T) {
	n := newTest(t, clientsYAML)
	for _, s := range []string{"openid", "email", "department", "org"} {
		if !n.KnownScope(s) {
			t.Errorf("KnownScope(%q) = false", s)
		}
	}
	if n.KnownScope("admin") {
		t.Errorf("KnownScope(admin) = true")
	}
	if got := n.SupportedScopes(); !slices.Equal(got, []string{"openid", "profile", "email", "groups", "offline_access", "department", "org"}) {
		t.Errorf("SupportedScopes() = %q", got)
	}
	for s, want := range map[string]string{"department": "Your department and badge", "org": "Your organisation", "email": "Your email address", "nope": ""} {
		if got := n.ScopeDescription(s); got != want {
			t.Errorf("ScopeDescription(%q) = %q, want %q", s, got, want)
		}
	}
	// A custom scope without a description of its own: its claims, for "Your {{.Claims}}" in
	// the user's language; none for a described, built-in or unknown scope.
	for s, want := range map[string][]string{"department": {"department", "badge"}, "org": nil, "email": nil, "nope": nil} {
		if got := n.CustomScopeClaims(s); !slices.Equal(got, want) {
			t.Errorf("CustomScopeClaims(%q) = %q, want %q", s, got, want)
		}
	}
	for c, want := range map[string]bool{"email": true, "name": true, "department": false, "badge": false} {
		if got := n.KnownClaim(c); got != want {
			t.Errorf("KnownClaim(%q) = %v, want %v", c, got, want)
		}
	}
	for _, c := range []string{"department", "badge", "role", "tenant", "limits", "sub", "groups"} {
		if !slices.Contains(n.SupportedClaims(), c) {
			t.Errorf("SupportedClaims() lacks %q", c)
		}
	}
	if got := n.SubjectTypes(); !slices.Equal(got, []string{"public", "pairwise"}) {
		t.Errorf("SubjectTypes() = %q", got)
	}
	if got := (&Normalizer{}).SubjectTypes(); !slices.Equal(got, []string{"public"}) {
		t.Errorf("zero Normalizer SubjectTypes() = %q", got)
	}
}

func TestPairwise(t *testing.T) {
	n := newTest(t, clientsYAML)
	const sub = "0123456789abcdef0123456789abcdef"
	g1, g2 := n.SubjectFor("grafana", sub), n.SubjectFor("grafana", sub)
	w := n.SubjectFor("wiki", sub)
	switch {
	case g1 != g2:
		t.Errorf("pairwise sub not stable: %s, %s", g1, g2)
	case g1 == sub || w == sub:
		t.Errorf("pairwise sub leaks the internal ID")
	case g1 == w:
		t.Errorf("two sectors share a pairwise sub")
	case len(g1) != 43:
		t.Errorf("pairwise sub %q is not base64url SHA-256", g1)
	}
	if n.SubjectFor("grafana", "another-user") == g1 {
		t.Errorf("two users share a pairwise sub")
	}
	if got := n.SubjectFor("plain", sub); got != sub {
		t.Errorf("public client sub = %q", got)
	}
	if got := n.SubjectFor("unknown", sub); got != sub {
		t.Errorf("unknown client sub = %q", got)
	}
	// The sector is the host: the same for every redirect URI of the client (port and
	// case aside), and the value is SHA-256(sector || sub || salt).
	if want := pairwiseSubject("grafana.example.com", sub, "salt-0123456789abcdef"); g1 != want {
		t.Errorf("pairwise sub = %s, want %s", g1, want)
	}
	other := newTest(t, strings.Replace(clientsYAML, "salt-0123456789abcdef", "another-salt-0123456789", 1))
	if other.SubjectFor("grafana", sub) == g1 {
		t.Errorf("the salt does not change the pairwise sub")
	}
}

func TestAuthorizeClient(t *testing.T) {
	n := newTest(t, clientsYAML)
	var denied *connectors.DeniedError
	if err := n.AuthorizeClient("grafana", storage.Identity{Groups: []string{"corp:admins"}}); err != nil {
		t.Errorf("member denied: %v", err)
	}
	err := n.AuthorizeClient("grafana", storage.Identity{Groups: []string{"admins", "corp:staff"}})
	if !errors.As(err, &denied) || !strings.Contains(denied.Reason, "use grafana") || !strings.Contains(denied.Reason, "corp:admins") {
		t.Errorf("non-member: %v", err)
	}
	for _, c := range []string{"wiki", "unknown"} {
		if err := n.AuthorizeClient(c, storage.Identity{}); err != nil {
			t.Errorf("AuthorizeClient(%s) = %v", c, err)
		}
	}
	if err := (&Normalizer{}).AuthorizeClient("grafana", storage.Identity{}); err != nil {
		t.Errorf("zero Normalizer denied: %v", err)
	}
}

func TestNewProblems(t *testing.T) {
	cfg := parseConfig(t, `
connectors:
  - type: ldap
    id: corp
    claims:
      map:
        name: "attrs.displayName["
        email_verified: "'yes'"
        groups: "groups.size()"
        boom: "groups.map(a, groups.map(b, groups.map(c, a + b + c)))"
        ok: "attrs.x[0]"
clients:
  - id: c
    public: true
    redirect_uris: ["https://a.example/cb"]
    claims: {extra: {when: "timestamp('2020-01-01T00:00:00Z')", role: "nope("}}
`)
	_, err := New(cfg, Options{})
	var ce *config.Errors
	if !errors.As(err, &ce) {
		t.Fatalf("New() = %v, want *config.Errors", err)
	}
	want := []string{
		`test.yaml:10: connectors[0].claims.map.boom: the expression may be too expensive`,
		`test.yaml:8: connectors[0].claims.map.email_verified: the expression returns string, but this claim needs a bool`,
		`test.yaml:9: connectors[0].claims.map.groups: the expression returns int, but this claim needs a list of strings`,
		`test.yaml:7: connectors[0].claims.map.name: invalid CEL: 1:19: Syntax error`,
		`test.yaml:16: clients[0].claims.extra.role: invalid CEL`,
		`test.yaml:16: clients[0].claims.extra.when: the expression returns google.protobuf.Timestamp`,
	}
	if len(ce.Problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ce.Problems), len(want), err)
	}
	for i, p := range ce.Problems {
		if !strings.HasPrefix(p.Error(), want[i]) {
			t.Errorf("problem %d = %q\nwant prefix %q", i, p.Error(), want[i])
		}
	}
}

func TestCheck(t *testing.T) {
	base := clientsYAML + `
claims_tests:
  - name: admin
    connector: corp
    client: grafana
    scopes: [openid, department, groups]
    input: {subject: u1, groups: [admins], attrs: {department: [R&D]}}
    expect: {claims: {role: admin, department: "R&D", groups: ["corp:admins"], tenant: acme, limits: {max: 3}}}
  - name: viewer denied by the client
    connector: corp
    client: grafana
    input: {subject: u2, groups: [staff]}
    expect: {denied: true, reason: "corp:admins"}
`
	if err := Check(context.Background(), parseConfig(t, base)); err != nil {
		t.Fatalf("Check() = %v", err)
	}
	failing := base + `  - name: wrong
    connector: corp
    client: wiki
    input: {subject: u3, groups: [staff]}
    expect: {claims: {groups: [staff], missing: 1}}
  - name: wrongly denied
    connector: corp
    client: grafana
    input: {subject: u4, groups: [staff]}
    expect: {claims: {groups: ["corp:staff"]}}
  - name: wrongly allowed
    connector: corp
    input: {subject: u5}
    expect: {denied: true}
`
	err := Check(context.Background(), parseConfig(t, failing))
	var ce *config.Errors
	if !errors.As(err, &ce) {
		t.Fatalf("Check() = %v", err)
	}
	want := []string{
		`test.yaml:50: claims_tests[2]: test "wrong" failed: claim "groups" = ["corp:staff"], want ["staff"]`,
		`test.yaml:50: claims_tests[2]: test "wrong" failed: claim "missing" is missing, want 1`,
		`test.yaml:55: claims_tests[3]: test "wrongly denied" failed: the login was denied: your account is not in a group that is allowed to use grafana (corp:admins)`,
		`test.yaml:60: claims_tests[4]: test "wrongly allowed" failed: expected the login to be denied, but it succeeded`,
	}
	if len(ce.Problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ce.Problems), len(want), err)
	}
	for i, p := range ce.Problems {
		if p.Error() != want[i] {
			t.Errorf("problem %d = %q\nwant          %q", i, p.Error(), want[i])
		}
	}
}

func TestExplain(t *testing.T) {
	n := newTest(t, clientsYAML)
	tr, err := n.Explain(context.Background(), "corp", connectors.Upstream{Subject: "u", Groups: []string{"admins"}, Attrs: map[string][]string{}}, "grafana", nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range tr.Steps {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"map", "filter groups", "authorize", "link", "authorize client", "emit"}) {
		t.Errorf("steps = %q", names)
	}
	mapNotes := strings.Join(tr.Steps[0].Notes, "\n")
	if !strings.Contains(mapNotes, "department: attrs.department[0] → error") {
		t.Errorf("map notes do not explain the missing attribute:\n%s", mapNotes)
	}
	if tr.IDToken["sub"] != n.SubjectFor("grafana", tr.Identity.Subject) || tr.IDToken["role"] != "admin" {
		t.Errorf("ID token claims = %v", tr.IDToken)
	}
	if _, err := n.Explain(context.Background(), "nope", connectors.Upstream{Subject: "u"}, "", nil); err == nil {
		t.Errorf("unknown connector accepted")
	}
	if _, err := n.Explain(context.Background(), "corp", connectors.Upstream{Subject: "u"}, "nope", nil); err == nil {
		t.Errorf("unknown client accepted")
	}
}
