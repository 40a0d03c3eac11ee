package config

import (
	"strings"
	"testing"
)

func TestValidateClaims(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // substrings, one per expected problem, in order; nil: valid
	}{
		{"full valid", func(c *Config) {
			c.Connectors[0].Claims = ConnectorClaims{
				Map:     map[string]string{"name": "attrs.cn[0]", "department": "attrs.dept[0]"},
				Groups:  GroupRules{Allow: []string{"^eng-", "admins"}, Deny: []string{"x"}, Rename: map[string]string{"a": "b"}, Prefix: "corp:"},
				Require: Requirement{Groups: []string{"staff"}, EmailDomains: []string{"example.com"}},
				Link:    "link_verified_email",
			}
			c.Clients[0].Require = Requirement{Groups: []string{"corp:admins"}}
			c.Clients[0].Claims = ClientClaims{Extra: map[string]string{"role": "'x'"}, Hardcoded: map[string]any{"tenant": "acme", "n": 1},
				Requestable: []string{"email", "department"}}
			c.Clients[0].SubjectType = "pairwise"
			c.PairwiseSalt = "0123456789abcdef"
			c.Scopes = []Scope{{Name: "department", Claims: []string{"department"}}}
			c.ClaimsTests = []ClaimsTest{{Name: "t", Connector: "local", Client: "app", Input: ClaimsTestInput{Subject: "s"}}}
		}, nil},
		{"reserved and bad claim names", func(c *Config) {
			c.Connectors[0].Claims.Map = map[string]string{"sub": "subject", "bad name": "1", "ok": " "}
			c.Clients[0].Claims.Extra = map[string]string{"iss": "'x'"}
		}, []string{
			`connectors[0].claims.map.bad name: "bad name" is not a valid claim name`,
			`connectors[0].claims.map.ok: needs a CEL expression`,
			`connectors[0].claims.map.sub: "sub" is set by Gatehouse itself`,
			`clients[0].claims.extra.iss: "iss" is set by Gatehouse itself`,
		}},
		{"bad group rules", func(c *Config) {
			c.Connectors[0].Claims.Groups = GroupRules{Allow: []string{"(", ""}, Rename: map[string]string{"a": " "}}
		}, []string{`groups.allow[0]: "(" is not a valid regular expression`, `groups.allow[1]: must not be empty`, `groups.rename.a: renames need a group name on both sides`}},
		{"bad requirements", func(c *Config) {
			c.Connectors[0].Claims.Require = Requirement{Groups: []string{""}, EmailDomains: []string{"@example.com", "Example.com"}}
		}, []string{`require.groups[0]: must not be empty`, `require.email_domains[0]: "@example.com" is not a lowercase domain`, `require.email_domains[1]`}},
		{"link policy", func(c *Config) { c.Connectors[0].Claims.Link = "merge" }, []string{`claims.link: must be one of create, link_verified_email, deny_unknown, got "merge"`}},
		{"pairwise needs a salt and one sector", func(c *Config) {
			c.Clients[0].SubjectType = "pairwise"
			c.Clients[0].RedirectURIs = []string{"https://a.example/cb", "https://b.example/cb"}
		}, []string{`clients[0].redirect_uris: a pairwise client's redirect URIs must all be on one host`, `pairwise_salt: is required`}},
		{"short salt, bad subject type", func(c *Config) { c.PairwiseSalt = "short"; c.Clients[0].SubjectType = "secret" },
			[]string{`clients[0].subject_type: must be public or pairwise, got "secret"`, `pairwise_salt: is too short`}},
		{"requestable claims", func(c *Config) {
			c.Clients[0].Claims.Requestable = []string{"email", "department", "sub", "bad name"}
		}, []string{`clients[0].claims.requestable[2]: "sub" is set by Gatehouse itself`, `clients[0].claims.requestable[3]: "bad name" is not a valid claim name`}},
		{"hardcoded collides with extra", func(c *Config) {
			c.Clients[0].Claims = ClientClaims{Extra: map[string]string{"role": "'a'"}, Hardcoded: map[string]any{"role": "b"}}
		}, []string{`clients[0].claims.hardcoded.role: claim "role" is also in claims.extra`}},
		{"scopes", func(c *Config) {
			c.Scopes = []Scope{{Name: "email", Claims: []string{"x"}}, {Name: "a b", Claims: []string{"x"}}, {Name: "dept"}, {Name: "dept", Claims: []string{"aud"}}, {Claims: []string{"x"}}}
		}, []string{`scopes[0].name: "email" is a built-in scope`, `scopes[1].name: "a b" is not a valid scope name`, `scopes[2].claims: needs at least one claim name`,
			`scopes[3].name: duplicate scope "dept"`, `scopes[3].claims[0]: "aud" is set by Gatehouse itself`, `scopes[4].name: is required`}},
		{"claims tests", func(c *Config) {
			c.ClaimsTests = []ClaimsTest{
				{Connector: "nope", Client: "nope", Expect: ClaimsTestExpect{Denied: true, Claims: map[string]any{"a": 1}}},
				{Name: "r", Connector: "local", Input: ClaimsTestInput{Subject: "s"}, Expect: ClaimsTestExpect{Reason: "x"}},
			}
		}, []string{`claims_tests[0].name: is required`, `claims_tests[0].connector: "nope" is not a configured connector`, `claims_tests[0].client: "nope" is not a configured client`,
			`claims_tests[0].input.subject: is required`, `claims_tests[0].expect: expects both a denial and claims`, `claims_tests[1].expect.reason: is only checked with denied: true`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(c)
			err := c.Validate()
			ps := problems(t, err)
			if len(ps) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.Contains(ps[i].Error(), w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, ps[i].Error(), w)
				}
			}
		})
	}
}

func TestClaimsKeysAreStrict(t *testing.T) {
	src := `connectors:
  - type: ldap
    id: corp
    claims:
      maps: {name: x}
      groups: {allow: [a], prefx: "c:"}
clients:
  - id: app
    claims: {extras: {}}
claims_tests:
  - name: t
    input: {subject: s, group: [x]}
`
	_, err := Parse([]byte(src), "gh.yaml", nil)
	want := []string{
		`gh.yaml:5: connectors[0].claims.maps: unknown key "maps" (did you mean "map"?)`,
		`gh.yaml:6: connectors[0].claims.groups.prefx: unknown key "prefx" (did you mean "prefix"?)`,
		`gh.yaml:9: clients[0].claims.extras: unknown key "extras" (did you mean "extra"?)`,
		`gh.yaml:12: claims_tests[0].input.group: unknown key "group" (did you mean "groups"?)`,
	}
	ps := problems(t, err)
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for i, w := range want {
		if ps[i].Error() != w {
			t.Errorf("problem %d = %q, want %q", i, ps[i].Error(), w)
		}
	}
}
