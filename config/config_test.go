package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// testHash is a well-formed bcrypt hash (of "password"); its $ signs must survive expansion.
const testHash = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"

// fullYAML is the file of issue 2, with a real hash.
const fullYAML = `issuer: http://127.0.0.1:5556
web:
  http: 127.0.0.1:5556            # https: + tls_cert: + tls_key: for TLS
  allowed_origins: []              # CORS for SPAs
storage:
  type: sqlite
  config: { file: gatehouse.db }
expiry:
  id_tokens: 1h
  access_tokens: 1h
  auth_codes: 60s
  refresh_tokens: { absolute: 720h, idle: 168h }
  sessions: { absolute: 24h, idle: 1h }
  signing_keys: 24h                # rotation period
signing: { algorithm: RS256 }      # RS256 | ES256 | EdDSA
clients:
  - id: example-app
    name: Example App
    secret: ${EXAMPLE_APP_SECRET}  # omitted for public clients
    public: false
    redirect_uris: [http://127.0.0.1:5555/callback]
    post_logout_redirect_uris: [http://127.0.0.1:5555/]
    trusted: false                 # true skips the consent screen
connectors:
  - type: local
    id: local
    name: Email and password
users:                             # users of the local connector
  - username: alice
    email: alice@example.com
    email_verified: true
    name: Alice Example
    groups: [admins]
    password_hash: "` + testHash + `"
`

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// problems returns the problems of err, failing the test if err is not an *Errors.
func problems(t *testing.T, err error) []*Problem {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, want *Errors: %v", err, err)
	}
	return errs.Problems
}

func TestParseFull(t *testing.T) {
	cfg, err := Parse([]byte(fullYAML), "gatehouse.yaml", env(map[string]string{"EXAMPLE_APP_SECRET": "s3cret"}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"issuer", cfg.Issuer, "http://127.0.0.1:5556"},
		{"web.http", cfg.Web.HTTP, "127.0.0.1:5556"},
		{"storage.type", cfg.Storage.Type, "sqlite"},
		{"storage.config.file", cfg.Storage.Config.File, "gatehouse.db"},
		{"auth_codes", cfg.Expiry.AuthCodes.D(), 60 * time.Second},
		{"refresh absolute", cfg.Expiry.RefreshTokens.Absolute.D(), 720 * time.Hour},
		{"refresh idle", cfg.Expiry.RefreshTokens.Idle.D(), 168 * time.Hour},
		{"session idle", cfg.Expiry.Sessions.Idle.D(), time.Hour},
		{"auth_requests default", cfg.Expiry.AuthRequests.D(), 30 * time.Minute},
		{"algorithm", cfg.Signing.Algorithm, "RS256"},
		{"client secret", cfg.Clients[0].Secret, "s3cret"},
		{"redirect", cfg.Clients[0].RedirectURIs[0], "http://127.0.0.1:5555/callback"},
		{"connector", cfg.Connectors[0].ID + "/" + cfg.Connectors[0].Type, "local/local"},
		{"user hash kept literally", cfg.Users[0].PasswordHash, testHash},
		{"groups", strings.Join(cfg.Users[0].Groups, ","), "admins"},
		{"email_verified", cfg.Users[0].EmailVerified, true},
		{"logging", cfg.Logging.Level + "/" + cfg.Logging.Format, "info/text"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gh.yaml")
	if err := os.WriteFile(path, []byte("issuer: https://login.example.com\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, nil)
	if err == nil || !strings.Contains(err.Error(), path+`:2: bogus: unknown key "bogus"`) {
		t.Fatalf("Load error = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load missing file error = %v, want os.ErrNotExist", err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string // substrings, one per expected problem, in order
	}{
		{
			name: "unknown top-level key",
			yaml: "issuer: https://a.example\nissuers: x\n",
			want: []string{`f.yaml:2: issuers: unknown key "issuers" (did you mean "issuer"?)`},
		},
		{
			name: "unknown nested key in list item",
			yaml: "clients:\n  - id: a\n    secret: s\n  - id: b\n    redirect_uri: [x]\n",
			want: []string{`f.yaml:5: clients[1].redirect_uri: unknown key "redirect_uri" (did you mean "redirect_uris"?)`},
		},
		{
			name: "unknown key in flow mapping",
			yaml: "storage:\n  type: sqlite\n  config: { file: x.db, fil: y }\n",
			want: []string{`f.yaml:3: storage.config.fil: unknown key "fil"`},
		},
		{
			name: "several problems at once",
			yaml: "issuer: x\nweb:\n  htp: 1\nexpiry:\n  id_tokens: 5x\nclients:\n  - id: a\n    secret: ${NOPE}\n    public: maybe\nzzz: 1\n",
			want: []string{
				`f.yaml:3: web.htp: unknown key "htp" (did you mean "http"?)`,
				`f.yaml:5: expiry.id_tokens: invalid duration "5x"`,
				`f.yaml:8: clients[0].secret: environment variable NOPE is not set`,
				`f.yaml:9: clients[0].public: expected true or false, got "maybe"`,
				`f.yaml:10: zzz: unknown key "zzz"`,
			},
		},
		{
			name: "unknown key in connectors[].passkeys",
			yaml: "connectors:\n  - id: local\n    type: local\n    passkeys:\n      enabled: true\n      enable: true\n",
			want: []string{`f.yaml:6: connectors[0].passkeys.enable: unknown key "enable" (did you mean "enabled"?)`},
		},
		{
			name: "passkeys.enabled not a boolean",
			yaml: "connectors:\n  - id: local\n    type: local\n    passkeys: {enabled: sure}\n",
			want: []string{`f.yaml:4: connectors[0].passkeys.enabled: expected true or false, got "sure"`},
		},
		{
			name: "string where a list is expected",
			yaml: "clients:\n  - id: a\n    redirect_uris: http://x/cb\n",
			want: []string{`f.yaml:3: clients[0].redirect_uris: expected a list, got "http://x/cb"`},
		},
		{
			name: "list where a mapping is expected",
			yaml: "web: [a]\n",
			want: []string{`f.yaml:1: web: expected a mapping, got a list`},
		},
		{
			name: "mapping where a string is expected",
			yaml: "issuer: {a: b}\n",
			want: []string{`f.yaml:1: issuer: expected a string, got a mapping`},
		},
		{
			name: "bad integer",
			yaml: "storage:\n  config:\n    port: five\n",
			want: []string{`f.yaml:3: storage.config.port: expected an integer of 64 bits, got "five"`},
		},
		{
			name: "bad duration in nested flow mapping",
			yaml: "expiry:\n  refresh_tokens: { absolute: 30d }\n",
			want: []string{`f.yaml:2: expiry.refresh_tokens.absolute: invalid duration "30d"`},
		},
		{
			name: "duplicate key",
			yaml: "issuer: a\nissuer: b\n",
			want: []string{`f.yaml:2: issuer: duplicate key "issuer" (first at line 1)`},
		},
		{
			name: "unset variable in braces and bare",
			yaml: "issuer: https://${HOST}/$SUFFIX\n",
			want: []string{
				`f.yaml:1: issuer: environment variable HOST is not set`,
				`f.yaml:1: issuer: environment variable SUFFIX is not set`,
			},
		},
		{
			name: "bad variable syntax",
			yaml: "issuer: ${A-B}\nsigning:\n  algorithm: ${OPEN\n",
			want: []string{
				`f.yaml:1: issuer: invalid variable reference ${A-B}`,
				`f.yaml:3: signing.algorithm: unterminated variable reference`,
			},
		},
		{
			name: "syntax error",
			yaml: "issuer: a\n  web: b\n",
			want: []string{`f.yaml:2: invalid YAML: mapping values are not allowed in this context`},
		},
		{
			name: "two documents",
			yaml: "issuer: a\n---\nissuer: b\n",
			want: []string{`f.yaml:2: a second YAML document`},
		},
		{
			name: "top level is not a mapping",
			yaml: "- a\n",
			want: []string{`f.yaml:1: expected a mapping, got a list`},
		},
		{
			name: "alias of the wrong type",
			yaml: "clients: &a\n  - *a\n",
			want: []string{`f.yaml:1: clients[0]: expected a mapping, got a list`},
		},
		{
			name: "flow mapping cannot hold ${VAR} unquoted",
			yaml: "storage: {config: {port: ${PGPORT}}}",
			want: []string{`f.yaml:1: invalid YAML: did not find expected ',' or '}' (inside { } or [ ], quote a value that uses a variable: "${VAR}")`},
		},
		{
			name: "unknown key through a merge",
			yaml: "clients:\n  - &c {id: a}\n  - <<: *c\n    sekret: y\n",
			want: []string{`f.yaml:4: clients[1].sekret: unknown key "sekret" (did you mean "secret"?)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.yaml), "f.yaml", env(tt.env))
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want %d problems", cfg, len(tt.want))
			}
			if cfg != nil {
				t.Errorf("Parse returned a config with an error")
			}
			ps := problems(t, err)
			if len(ps) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.Contains(ps[i].Error(), w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, ps[i].Error(), w)
				}
			}
			if got := strings.Count(err.Error(), "\n") + 1; got != len(tt.want) {
				t.Errorf("Error() has %d lines, want one per problem:\n%s", got, err)
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		env   map[string]string
		check func(*Config) (got, want any)
	}{
		{"braced var", "issuer: https://${HOST}:8443/x", map[string]string{"HOST": "id.example"},
			func(c *Config) (any, any) { return c.Issuer, "https://id.example:8443/x" }},
		{"bare var", "issuer: $ISSUER", map[string]string{"ISSUER": "https://a.example"},
			func(c *Config) (any, any) { return c.Issuer, "https://a.example" }},
		{"double dollar is literal", "clients: [{id: a, secret: 'pa$$word$$${S}'}]", map[string]string{"S": "x"},
			func(c *Config) (any, any) { return c.Clients[0].Secret, "pa$word$x" }},
		{"lone dollar is literal", "clients: [{id: a, secret: 'a$ b$1 c$'}]", nil,
			func(c *Config) (any, any) { return c.Clients[0].Secret, "a$ b$1 c$" }},
		{"keys are not expanded", "clients: [{id: $X}]", map[string]string{"X": "y"},
			func(c *Config) (any, any) { return c.Clients[0].ID, "y" }},
		{"var into an int", "storage: {config: {port: \"${PGPORT}\"}}", map[string]string{"PGPORT": "6543"},
			func(c *Config) (any, any) { return c.Storage.Config.Port, 6543 }},
		{"var into a bool", "clients: [{id: a, public: $PUB}]", map[string]string{"PUB": "true"},
			func(c *Config) (any, any) { return c.Clients[0].Public, true }},
		{"var into a duration", "expiry:\n  id_tokens: ${TTL}", map[string]string{"TTL": "90s"},
			func(c *Config) (any, any) { return c.Expiry.IDTokens.D(), 90 * time.Second }},
		{"file: reference left alone", "clients: [{id: a, secret: file:/run/secrets/a}]", nil,
			func(c *Config) (any, any) { return c.Clients[0].Secret, "file:/run/secrets/a" }},
		{"bcrypt hash literal", "users: [{username: a, password_hash: $2y$12$abc}]", nil,
			func(c *Config) (any, any) { return c.Users[0].PasswordHash, "$2y$12$abc" }},
		{"escaped bcrypt hash", "users: [{username: a, password_hash: $$2b$$10$$x}]", nil,
			func(c *Config) (any, any) { return c.Users[0].PasswordHash, "$2b$10$x" }},
		{"null values are zero", "web:\nissuer: ~\nclients:\n", nil,
			func(c *Config) (any, any) { return c.Issuer + c.Web.HTTP, "" }},
		{"merge keys", "clients:\n  - &c {id: a, secret: s, redirect_uris: [https://a/cb]}\n  - <<: *c\n    id: b\n", nil,
			func(c *Config) (any, any) {
				return c.Clients[1].ID + c.Clients[1].Secret + c.Clients[1].RedirectURIs[0], "bshttps://a/cb"
			}},
		{"durations", "expiry: {id_tokens: 90s, access_tokens: 1h, refresh_tokens: {absolute: 720h, reuse_grace: 0}}", nil,
			func(c *Config) (any, any) {
				e := c.Expiry
				return []time.Duration{e.IDTokens.D(), e.AccessTokens.D(), e.RefreshTokens.Absolute.D(), e.RefreshTokens.ReuseGrace.D()},
					[]time.Duration{90 * time.Second, time.Hour, 720 * time.Hour, 0}
			}},
		{"empty file", "", nil, func(c *Config) (any, any) { return c.Issuer, "" }},
		{"comments only", "# nothing\n", nil, func(c *Config) (any, any) { return len(c.Clients), 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.yaml), "f.yaml", env(tt.env))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, want := tt.check(cfg)
			if gs, ws := fmtAny(got), fmtAny(want); gs != ws {
				t.Errorf("got %s, want %s", gs, ws)
			}
		})
	}
}

func fmtAny(v any) string { return strings.TrimSpace(strings.ReplaceAll(yamlString(v), "\n", " ")) }

func yamlString(v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func TestConnectorConfigKeptAsNode(t *testing.T) {
	src := "connectors:\n  - type: ldap\n    id: ad\n    config:\n      host: ${LDAP_HOST}\n      bind_dn: cn=x\n"
	cfg, err := Parse([]byte(src), "f.yaml", nil)
	if err != nil {
		t.Fatalf("Parse must not expand or check connector config: %v", err)
	}
	n := cfg.Connectors[0].Config
	if n.Kind != yaml.MappingNode || n.Line != 5 {
		t.Fatalf("config node kind %v line %d, want a mapping at line 5", n.Kind, n.Line)
	}
}

// ldapTest stands in for a connector's typed config.
type ldapTest struct {
	Host     string        `yaml:"host"`
	Port     int           `yaml:"port"`
	BindDN   string        `yaml:"bind_dn"`
	Timeout  time.Duration `yaml:"timeout"`
	Refresh  Duration      `yaml:"refresh"`
	TLS      *tlsTest      `yaml:"tls"`
	Filters  []filterTest  `yaml:"filters"`
	Attrs    map[string]string
	Extra    any      `yaml:"extra"`
	Embedded embedded `yaml:",inline"`
	Skipped  string   `yaml:"-"`
}

type embedded struct {
	Insecure bool `yaml:"insecure"`
}

type tlsTest struct {
	CA string `yaml:"ca"`
}

type filterTest struct {
	Base   string `yaml:"base"`
	Filter string `yaml:"filter"`
}

func TestDecodeStrict(t *testing.T) {
	src := `connectors:
  - type: ldap
    id: ad
    config:
      host: ${LDAP_HOST}
      port: 636
      bind_dn: cn=admin
      timeout: 5s
      refresh: 1h
      insecure: true
      tls: { ca: /etc/ca.pem }
      filters:
        - { base: "ou=a", filter: "(x=1)" }
      attrs: { mail: email }
      extra: { n: $N, list: [a, $N] }
  - type: ldap
    id: bad
    config:
      host: x
      filters:
        - { base: "ou=a", filtr: "(x=1)" }
      tls: { ca: 1, cert: c }
      timeout: 5x
      port: ${MISSING}
      skipped: z
  - type: local
    id: local
`
	cfg, err := Parse([]byte(src), "f.yaml", nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	getenv := env(map[string]string{"LDAP_HOST": "ldap.example", "N": "7"})

	var good ldapTest
	if err := DecodeStrict(&cfg.Connectors[0].Config, &good, "f.yaml", "connectors[0].config", getenv); err != nil {
		t.Fatalf("DecodeStrict: %v", err)
	}
	if good.Host != "ldap.example" || good.Port != 636 || good.Timeout != 5*time.Second ||
		good.Refresh.D() != time.Hour || !good.Embedded.Insecure || good.TLS == nil || good.TLS.CA != "/etc/ca.pem" ||
		len(good.Filters) != 1 || good.Filters[0].Filter != "(x=1)" || good.Attrs["mail"] != "email" {
		t.Errorf("decoded %+v", good)
	}
	extra, ok := good.Extra.(map[string]any)
	if !ok || extra["n"] != 7 || fmtAny(extra["list"]) != "- a - 7" {
		t.Errorf("extra = %#v", good.Extra)
	}

	var bad ldapTest
	err = DecodeStrict(&cfg.Connectors[1].Config, &bad, "f.yaml", "connectors[1].config", getenv)
	want := []string{
		`f.yaml:21: connectors[1].config.filters[0].filtr: unknown key "filtr" (did you mean "filter"?)`,
		`f.yaml:22: connectors[1].config.tls.cert: unknown key "cert"`,
		`f.yaml:23: connectors[1].config.timeout: invalid duration "5x"`,
		`f.yaml:24: connectors[1].config.port: environment variable MISSING is not set`,
		`f.yaml:25: connectors[1].config.skipped: unknown key "skipped"`,
	}
	ps := problems(t, err)
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for i, w := range want {
		if !strings.Contains(ps[i].Error(), w) {
			t.Errorf("problem %d = %q, want it to contain %q", i, ps[i].Error(), w)
		}
	}

	// No config block at all, or an empty one, decodes to nothing.
	var empty ldapTest
	if err := DecodeStrict(&cfg.Connectors[2].Config, &empty, "f.yaml", "connectors[2].config", nil); err != nil {
		t.Errorf("empty node: %v", err)
	}
	if err := DecodeStrict(nil, &empty, "f.yaml", "x", nil); err != nil {
		t.Errorf("nil node: %v", err)
	}
	if err := DecodeStrict(&yaml.Node{}, empty, "f.yaml", "x", nil); err == nil {
		t.Errorf("non-pointer dst: no error")
	}
}

func TestDecodeStrictAliasCycle(t *testing.T) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("x: &a [1, *a]\n"), &n); err != nil {
		t.Fatal(err)
	}
	var v struct {
		X any `yaml:"x"`
	}
	err := DecodeStrict(&n, &v, "f.yaml", "c", nil)
	if err == nil || !strings.Contains(err.Error(), "f.yaml:1: c.x[1][1]: alias *a refers to its own anchor") {
		t.Fatalf("err = %v", err)
	}
	type rec struct {
		R []rec `yaml:"r"`
	}
	if err := yaml.Unmarshal([]byte("r: &a [{r: *a}]\n"), &n); err != nil {
		t.Fatal(err)
	}
	var r rec
	err = DecodeStrict(&n, &r, "f.yaml", "c", nil)
	if err == nil || !strings.Contains(err.Error(), "refers to its own anchor") {
		t.Fatalf("err = %v", err)
	}
}

func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x0: &a0 [a, a, a, a, a, a, a, a, a, a]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "x%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
			i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	b.WriteString("clients:\n  - allowed_origins: *a9\n")
	start := time.Now()
	// Config has no recursive types: the walk stops at the first list where a string belongs.
	_, err := Parse([]byte(b.String()), "f.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), "clients[0].allowed_origins[9]: expected a string, got a list") {
		t.Errorf("err = %v", err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(strings.Replace(b.String(), "clients:\n  - allowed_origins:", "extra:", 1)), &n); err != nil {
		t.Fatal(err)
	}
	var v struct {
		Extra any            `yaml:"extra"`
		Rest  map[string]any `yaml:",inline"`
	}
	if err := DecodeStrict(&n, &v, "f.yaml", "c", nil); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("DecodeStrict err = %v, want a too-large problem", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("alias bomb took %v", el)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"90s", 90 * time.Second, false},
		{"1h", time.Hour, false},
		{"720h", 720 * time.Hour, false},
		{"1h30m", 90 * time.Minute, false},
		{"0", 0, false},
		{"5x", 0, true},
		{"10", 0, true},
		{"[1h]", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			// Through Parse.
			cfg, err := Parse([]byte("expiry: {id_tokens: "+tt.in+"}"), "f.yaml", nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && cfg.Expiry.IDTokens.D() != tt.want {
				t.Errorf("Parse: got %v, want %v", cfg.Expiry.IDTokens.D(), tt.want)
			}
			// Through plain yaml.v3 (UnmarshalYAML).
			var d struct {
				D Duration `yaml:"d"`
			}
			err = yaml.Unmarshal([]byte("d: "+tt.in), &d)
			if (err != nil) != tt.wantErr {
				t.Fatalf("yaml.Unmarshal error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && d.D.D() != tt.want {
				t.Errorf("yaml.Unmarshal: got %v, want %v", d.D.D(), tt.want)
			}
		})
	}
	if got := Duration(90 * time.Second).String(); got != "1m30s" {
		t.Errorf("String() = %q", got)
	}
}

func TestApplyDefaults(t *testing.T) {
	var c Config
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	e := c.Expiry
	got := []any{c.Issuer, c.Web.HTTP, c.Storage.Type, c.Storage.Config.File, c.Signing.Algorithm,
		c.Logging.Level, c.Logging.Format, e.IDTokens.D(), e.AccessTokens.D(), e.AuthCodes.D(),
		e.AuthRequests.D(), e.RefreshTokens.Absolute.D(), e.RefreshTokens.Idle.D(),
		e.RefreshTokens.ReuseGrace.D(), e.Sessions.Absolute.D(), e.Sessions.Idle.D(), e.SigningKeys.D()}
	want := []any{"http://127.0.0.1:5556", "127.0.0.1:5556", "sqlite", "gatehouse.db", "RS256",
		"info", "text", time.Hour, time.Hour, 60 * time.Second,
		30 * time.Minute, 720 * time.Hour, 168 * time.Hour,
		5 * time.Second, 24 * time.Hour, time.Hour, 24 * time.Hour}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("default %d = %v, want %v", i, got[i], want[i])
		}
	}

	// A reuse_grace the file sets, even 0s, is kept; without the key it is 5s.
	for _, tt := range []struct {
		yaml string
		want time.Duration
	}{
		{"expiry: {refresh_tokens: {reuse_grace: 0s}}\n", 0},
		{"expiry:\n  refresh_tokens:\n    reuse_grace: 2s\n", 2 * time.Second},
		{"expiry: {refresh_tokens: {idle: 1h}}\n", 5 * time.Second},
	} {
		cfg, err := Parse([]byte(tt.yaml), "f.yaml", func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		cfg.ApplyDefaults()
		if got := cfg.Expiry.RefreshTokens.ReuseGrace.D(); got != tt.want {
			t.Errorf("%q: reuse_grace = %s, want %s", tt.yaml, got, tt.want)
		}
	}

	// Set values are kept; https alone gets no http listener; postgres gets no file.
	c2 := Config{Web: Web{HTTPS: ":443"}, Storage: Storage{Type: "postgres"}, Issuer: "https://x"}
	c2.Expiry.IDTokens = Duration(time.Minute)
	c2.ApplyDefaults()
	if c2.Web.HTTP != "" || c2.Storage.Config.File != "" || c2.Issuer != "https://x" || c2.Expiry.IDTokens.D() != time.Minute {
		t.Errorf("ApplyDefaults overwrote settings: %+v", c2)
	}
}

// TestParseSections: only the named top-level sections are decoded; problems elsewhere
// (unset variables, unknown keys, bad values) are not read, problems inside are reported
// with their line.
func TestParseSections(t *testing.T) {
	doc := "issuer: ${UNSET_ISSUER}\nnonsense_key: 1\nstorage:\n  type: sqlite\n  config:\n    file: ${DB}\nexpiry: {id_tokens: forever}\n"
	getenv := func(k string) string {
		if k == "DB" {
			return "/var/lib/gh.db"
		}
		return ""
	}
	cfg, err := ParseSections([]byte(doc), "gh.yaml", getenv, "storage", "secrets")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ApplyDefaults()
	if cfg.Storage.Config.File != "/var/lib/gh.db" || cfg.ValidateSections() != nil {
		t.Errorf("storage %+v, validate %v", cfg.Storage, cfg.ValidateSections())
	}
	_, err = ParseSections([]byte(doc), "gh.yaml", nil, "storage")
	if err == nil || !strings.Contains(err.Error(), "gh.yaml:6: storage.config.file: environment variable DB is not set") {
		t.Errorf("unset variable in the section: %v", err)
	}
	_, err = ParseSections([]byte("storage:\n  type: sqlite\n  typo: 1\n"), "gh.yaml", nil, "storage")
	if err == nil || !strings.Contains(err.Error(), "gh.yaml:3") {
		t.Errorf("unknown key in the section: %v", err)
	}
	cfg, err = ParseSections([]byte("storage: {type: mongo}\n"), "gh.yaml", nil, "storage")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ApplyDefaults()
	if err := cfg.ValidateSections(); err == nil || !strings.Contains(err.Error(), "gh.yaml:1: storage.type") {
		t.Errorf("bad storage type: %v", err)
	}
}
