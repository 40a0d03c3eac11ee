package dexconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestConvert: each Dex setting converts to its Gatehouse key, and each difference or
// missing equivalent is a "# dex:" comment; an unknown key is never dropped silently.
func TestConvert(t *testing.T) {
	tests := []struct {
		name string
		dex  string
		want []string // substrings of the output
	}{
		{"issuer kept, endpoints note", "issuer: https://dex.example.com/dex\n",
			[]string{`issuer: "https://dex.example.com/dex"`, "# dex: the same issuer", "Dex's /auth is Gatehouse's /authorize"}},
		{"sqlite3 beside Dex's file", "storage: {type: sqlite3, config: {file: /var/dex/dex.db}}\n",
			[]string{"type: sqlite", "file: /var/dex/gatehouse.db", "# dex: Gatehouse starts with an empty database"}},
		{"postgres", "storage: {type: postgres, config: {host: db, port: 5432, database: dex, user: dex, password: pw, ssl: {mode: verify-full, caFile: /ca.pem}, connectionTimeout: 5, maxOpenConns: 10}}\n",
			[]string{"type: postgres", "host: db", "port: 5432", "database: dex", "ssl_mode: verify-full", "ssl_root_cert: /ca.pem", "connect_timeout: 5s", "max_conns: 10", "use a new database"}},
		{"other storage", "storage: {type: etcd, config: {endpoints: [http://e:2379]}}\n",
			[]string{`Dex storage type "etcd" has no Gatehouse equivalent`, "file: gatehouse.db"}},
		{"web https", "web: {https: 0.0.0.0:5554, tlsCert: c.pem, tlsKey: k.pem, headers: {X-Frame-Options: DENY}}\n",
			[]string{`https: "0.0.0.0:5554"`, "tls_cert: c.pem", "tls_key: k.pem", "web.headers is not converted"}},
		{"client secretEnv", "staticClients: [{id: app, secretEnv: APP_SECRET, redirectURIs: [https://a/cb]}]\n",
			[]string{`secret: "${APP_SECRET}"`, "# dex: from the environment"}},
		{"public client", "staticClients: [{id: cli, public: true, redirectURIs: [http://localhost:8000]}]\n",
			[]string{"public: true", "must use PKCE", "urn:ietf:wg:oauth:2.0:oob"}},
		{"client without redirect URIs", "staticClients: [{id: app, secret: s}]\n",
			[]string{"replace this placeholder"}},
		{"skip approval", "oauth2: {skipApprovalScreen: true}\nstaticClients: [{id: app, secret: s, redirectURIs: [https://a/cb]}]\n",
			[]string{"trusted: true", "skipApprovalScreen"}},
		{"password grant", "oauth2: {passwordConnector: local}\n", []string{"resource-owner password grant"}},
		{"implicit flow", "oauth2: {responseTypes: [code, token, id_token]}\n", []string{"Gatehouse issues codes only"}},
		{"static passwords", "enablePasswordDB: true\nstaticPasswords: [{email: a@example.com, hash: \"$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W\", username: a, userID: u1}]\n",
			[]string{"type: local", "username: a", `email: "a@example.com"`, "email_verified: true", `password_hash: "$2a$10$2b2c`, `Dex's sub for this user was base64(protobuf{"u1", "local"})`}},
		{"base64 hash", "staticPasswords: [{email: a@example.com, hash: JDJhJDEwJDJiMmNVOENQaE9UYUdyczFIUlF1QXVlUzdKVFQ1WkhzSFN6WWlGUG0xbGVaY2s3TWM4VDRX, username: a}]\n",
			[]string{`password_hash: "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"`, "base64-encoded hash, decoded", "enablePasswordDB was off"}},
		{"duplicate usernames", "staticPasswords: [{email: a@x.com, hash: h, username: same}, {email: b@x.com, hash: h, username: same}]\n",
			[]string{"username: same\n", "username: same-2", "not a bcrypt hash"}},
		{"unknown connector type", "connectors: [{type: keystone, id: ks, name: K, config: {keystoneHost: h}}]\n",
			[]string{`connectors[0] (type "keystone", id "ks") is not converted`}},
		{"callback changes", "connectors: [{type: github, id: gh, name: GitHub, config: {clientID: a, clientSecret: b, redirectURI: https://x/callback}}]\n",
			[]string{"{issuer}/callback/gh", "the callback URL of every redirect connector changes"}},
		{"ldap", "connectors: [{type: ldap, id: l, name: L, config: {host: h:636, bindDN: cn=a, bindPW: p, userSearch: {baseDN: dc=x, username: uid, idAttr: uid, emailSuffix: x.com}, groupSearch: {baseDN: ou=g, userAttr: DN, groupAttr: member, nameAttr: cn}}}]\n",
			[]string{"bind_password: p", "username: [uid]", "id_attr: uid", "emailSuffix", "user_attr: DN", "group_attr: member", "keep the same attribute"}},
		{"saml", "connectors: [{type: saml, id: s, name: S, config: {ssoURL: https://i/sso, ca: ca.pem, usernameAttr: u, groupsAttr: g, groupsDelim: \",\", insecureSkipSignatureValidation: true}}]\n",
			[]string{"idp_sso_url:", "idp_certs: [ca.pem]", "username: u", "groupsDelim is not converted", "always checks signatures", "replace this placeholder"}},
		{"microsoft multi-tenant groups", "connectors: [{type: microsoft, id: m, name: M, config: {clientID: a, clientSecret: b, tenant: common, groups: [devs]}}]\n",
			[]string{"groups [devs] is not converted"}},
		{"microsoft one tenant", "connectors: [{type: microsoft, id: m, name: M, config: {clientID: a, clientSecret: b, tenant: 0f0e0d0c-0b0a-0908-0706-050403020100, groups: [devs]}}]\n",
			[]string{"group_name_format: name", "groups: [devs]"}},
		{"oidc claim mapping", "connectors: [{type: oidc, id: o, name: O, config: {issuer: https://o, clientID: a, clientSecret: b, claimMapping: {email: mail}, providerDiscoveryOverrides: {tokenURL: x}}}]\n",
			[]string{"claimMapping.email", "providerDiscoveryOverrides is not converted"}},
		{"unknown top-level key", "issuer: https://a\nmyOwnThing: 1\n", []string{"myOwnThing is not converted"}},
		{"frontend", "frontend: {theme: dark}\n", []string{"frontend is not converted"}},
		{"refresh rotation off", "expiry: {refreshTokens: {disableRotation: true}}\n", []string{"always rotates refresh tokens"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Convert([]byte(tt.dex))
			if err != nil {
				t.Fatal(err)
			}
			var v map[string]any
			if err := yaml.Unmarshal(out, &v); err != nil {
				t.Fatalf("the output is not YAML: %v\n%s", err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestConvertRefuses(t *testing.T) {
	for _, in := range []string{"", "- a\n", "just text\n", "a: [\n", "a: &a [*a, *a]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n", strings.Repeat("x", MaxInput+1)} {
		if out, err := Convert([]byte(in)); err == nil {
			t.Errorf("Convert(%.40q) = %.80q, want an error", in, out)
		}
	}
}

// TestExamplesDeterministic: the Dex examples convert to the same text every time (no map
// order in the output), and every top-level Dex key of an example appears in the output or
// in a comment.
func TestExamplesDeterministic(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) == 0 {
		t.Fatal("no Dex examples in testdata")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		first, err := Convert(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for range 5 {
			again, _ := Convert(data)
			if string(again) != string(first) {
				t.Fatalf("%s: two conversions differ", f)
			}
		}
	}
}

// FuzzConvert: no input makes Convert panic; whatever it returns is YAML.
func FuzzConvert(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("connectors: [{type: ldap, config: {groupSearch: {baseDN: x, userMatchers: [1, {userAttr: a}]}}}]\n"))
	f.Add([]byte("staticClients: [1, [2], {id: *x}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Convert(data)
		if err != nil {
			return
		}
		var v any
		if err := yaml.Unmarshal(out, &v); err != nil {
			t.Fatalf("output is not YAML: %v\n%s", err, out)
		}
	})
}
