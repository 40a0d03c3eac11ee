package config

import (
	"strings"
	"testing"
	"time"
)

// validConfig returns a small configuration that passes Validate.
func validConfig() *Config {
	c := &Config{
		Issuer: "https://login.example.com",
		Clients: []Client{{
			ID:                     "app",
			Secret:                 "s3cret",
			RedirectURIs:           []string{"https://app.example.com/callback"},
			PostLogoutRedirectURIs: []string{"https://app.example.com/"},
			AllowedConnectors:      []string{"local"},
		}},
		Connectors: []ConnectorBlock{{Type: "local", ID: "local"}},
		Users:      []User{{Username: "alice", PasswordHash: testHash}},
	}
	c.ApplyDefaults()
	return c
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // substrings, one per expected problem, in order; nil: valid
	}{
		{"valid", func(*Config) {}, nil},
		{"issuer loopback http", func(c *Config) { c.Issuer = "http://localhost:5556/gh" }, nil},
		{"issuer http under .localhost", func(c *Config) { c.Issuer = "http://login.corp.localhost:5556" }, nil},
		{"issuer http on a look-alike of localhost", func(c *Config) { c.Issuer = "http://login.localhost.example.com" },
			[]string{"uses http on a non-loopback host"}},
		{"issuer ipv6 loopback", func(c *Config) { c.Issuer = "http://[::1]:5556" }, nil},
		{"issuer empty", func(c *Config) { c.Issuer = "" }, []string{"issuer: is required"}},
		{"issuer relative", func(c *Config) { c.Issuer = "/login" }, []string{"issuer: \"/login\" must be an absolute https:// URL"}},
		{"issuer other scheme", func(c *Config) { c.Issuer = "ftp://x" }, []string{"issuer: \"ftp://x\" must be an absolute https:// URL"}},
		{"issuer http non-loopback", func(c *Config) { c.Issuer = "http://login.example.com" },
			[]string{`issuer: "http://login.example.com" uses http on a non-loopback host: use https://`}},
		{"issuer query and fragment", func(c *Config) { c.Issuer = "https://a.example/?x=1#f" },
			[]string{"issuer: \"https://a.example/?x=1#f\" must not have a query", "must not have a fragment"}},
		{"issuer no host", func(c *Config) { c.Issuer = "https:///x" }, []string{"issuer: \"https:///x\" has no host"}},
		{"no listener", func(c *Config) { c.Web.HTTP = "" }, []string{"web: needs web.http or web.https"}},
		{"bad listener", func(c *Config) { c.Web.HTTP = "5556" }, []string{"web.http: \"5556\" is not a host:port"}},
		{"https needs cert and key", func(c *Config) { c.Web.HTTPS = ":443" },
			[]string{"web.tls_cert: is required when web.https is set", "web.tls_key: is required when web.https is set"}},
		{"https with cert and key", func(c *Config) { c.Web.HTTPS, c.Web.TLSCert, c.Web.TLSKey = ":443", "c.pem", "k.pem" }, nil},
		{"tls without https", func(c *Config) { c.Web.TLSCert = "c.pem" }, []string{"web.tls_cert: is set but web.https is not"}},
		// web.client_ca on a plain-http listener would verify nothing: the authproxy connector's
		// client_cert_names would then refuse every login, so it is refused at config time.
		{"client_ca without https", func(c *Config) { c.Web.ClientCA = "ca.pem" }, []string{"web.client_ca: is set but web.https is not"}},
		{"client_ca with https", func(c *Config) {
			c.Web.HTTPS, c.Web.TLSCert, c.Web.TLSKey, c.Web.ClientCA = ":443", "c.pem", "k.pem", "ca.pem"
		}, nil},
		{"bad origin", func(c *Config) { c.Web.AllowedOrigins = []string{"*", "https://a.example", "https://a.example/path"} },
			[]string{"web.allowed_origins[2]: \"https://a.example/path\" is not an origin"}},
		{"bad trusted proxy", func(c *Config) { c.Web.TrustedProxies = []string{"10.0.0.0/8", "::1", "proxy"} },
			[]string{"web.trusted_proxies[2]: \"proxy\" is neither an IP address nor a CIDR range"}},
		{"bad admin listener", func(c *Config) { c.Admin.HTTP = "localhost" }, []string{"admin.http: \"localhost\" is not a host:port"}},
		{"storage type", func(c *Config) { c.Storage.Type = "mysql" }, []string{"storage.type: must be sqlite or postgres, got \"mysql\""}},
		{"sqlite needs file", func(c *Config) { c.Storage.Config.File = "" }, []string{"storage.config.file: is required for sqlite"}},
		{"postgres needs dsn", func(c *Config) { c.Storage.Type = "postgres" }, []string{"storage.config: postgres needs dsn"}},
		{"postgres with dsn", func(c *Config) { c.Storage.Type, c.Storage.Config.DSN = "postgres", "postgres://db/gh" }, nil},
		{"storage port", func(c *Config) { c.Storage.Config.Port = 70000 }, []string{"storage.config.port: 70000 is not a port number"}},
		{"connect_timeout on sqlite", func(c *Config) { c.Storage.Config.ConnectTimeout = Duration(time.Minute) },
			[]string{"storage.config.connect_timeout: applies to postgres only"}},
		{"connect_timeout negative", func(c *Config) {
			c.Storage.Type, c.Storage.Config.DSN, c.Storage.Config.ConnectTimeout = "postgres", "postgres://db/gh", Duration(-time.Second)
		}, []string{"storage.config.connect_timeout: must not be negative"}},
		{"shutdown_delay too long", func(c *Config) { c.Web.ShutdownDelay = Duration(time.Hour) },
			[]string{"web.shutdown_delay: must be between 0s and 5m, got 1h0m0s"}},
		{"shutdown_delay 5s", func(c *Config) { c.Web.ShutdownDelay = Duration(5 * time.Second) }, nil},
		{"max_connections negative", func(c *Config) { c.Web.MaxConnections = -1 }, []string{"web.max_connections"}},
		{"max_connections too many", func(c *Config) { c.Web.MaxConnections = 2_000_000 }, []string{"web.max_connections"}},
		{"max_connections 100", func(c *Config) { c.Web.MaxConnections = 100 }, nil},
		{"algorithm", func(c *Config) { c.Signing.Algorithm = "HS256" }, []string{"signing.algorithm: must be one of RS256, ES256, EdDSA, got \"HS256\""}},
		{"algorithm ES256", func(c *Config) { c.Signing.Algorithm = "ES256" }, nil},
		{"algorithm EdDSA", func(c *Config) { c.Signing.Algorithm = "EdDSA" }, nil},
		{"logging", func(c *Config) { c.Logging.Level, c.Logging.Format = "loud", "xml" },
			[]string{"logging.level: must be one of debug, info, warn, error", "logging.format: must be one of text, json"}},
		{"zero and negative durations", func(c *Config) {
			c.Expiry.IDTokens = 0
			c.Expiry.AuthCodes = Duration(-time.Second)
			c.Expiry.SigningKeys = 0
			c.Expiry.RefreshTokens.ReuseGrace = Duration(-time.Second)
		}, []string{
			"expiry.id_tokens: must be greater than zero, got 0s",
			"expiry.auth_codes: must be greater than zero, got -1s",
			"expiry.signing_keys: must be greater than zero",
			"expiry.refresh_tokens.reuse_grace: must not be negative",
		}},
		{"reuse grace positive", func(c *Config) { c.Expiry.RefreshTokens.ReuseGrace = Duration(2 * time.Second) }, nil},
		{"idle longer than absolute", func(c *Config) {
			c.Expiry.RefreshTokens.Idle = Duration(1000 * time.Hour)
			c.Expiry.Sessions.Idle = Duration(25 * time.Hour)
		}, []string{
			"expiry.refresh_tokens.idle: (1000h0m0s) must not be longer than expiry.refresh_tokens.absolute (720h0m0s)",
			"expiry.sessions.idle: (25h0m0s) must not be longer than expiry.sessions.absolute (24h0m0s)",
		}},
		{"connector id missing, bad, duplicate; type missing", func(c *Config) {
			c.Connectors = append(c.Connectors,
				ConnectorBlock{Type: "ldap"},
				ConnectorBlock{Type: "ldap", ID: "Corp AD"},
				ConnectorBlock{ID: "local", Type: "local"},
				ConnectorBlock{ID: "gh"})
		}, []string{
			"connectors[1].id: is required",
			"connectors[2].id: \"Corp AD\" may contain only lowercase letters, digits, '-' and '_'",
			"connectors[3].id: duplicate connector id \"local\" (also connectors[0])",
			"connectors[4].type: is required",
		}},
		{"client id missing and duplicate", func(c *Config) {
			c.Clients = append(c.Clients, c.Clients[0], c.Clients[0])
			c.Clients[2].ID = ""
		}, []string{"clients[1].id: duplicate client id \"app\" (also clients[0])", "clients[2].id: is required"}},
		{"confidential client needs secret", func(c *Config) { c.Clients[0].Secret = "" },
			[]string{"clients[0].secret: is required for a confidential client"}},
		{"public client has no secret", func(c *Config) { c.Clients[0].Public = true },
			[]string{"clients[0].secret: must not be set: a public client"}},
		{"public client without secret", func(c *Config) { c.Clients[0].Public, c.Clients[0].Secret = true, "" }, nil},
		{"no redirect uri", func(c *Config) { c.Clients[0].RedirectURIs = nil },
			[]string{"clients[0].redirect_uris: needs at least one redirect URI"}},
		{"redirect uris", func(c *Config) {
			c.Clients[0].RedirectURIs = []string{
				"com.example.app:/callback", "http://127.0.0.1/cb", "/relative", "https://a.example/cb#frag",
				"", "https:///nohost", "http://a b/",
			}
		}, []string{
			"clients[0].redirect_uris[2]: \"/relative\" must be an absolute URI",
			"clients[0].redirect_uris[3]: \"https://a.example/cb#frag\" must not contain a fragment",
			"clients[0].redirect_uris[4]: must not be empty",
			"clients[0].redirect_uris[5]: \"https:///nohost\" has no host",
			"clients[0].redirect_uris[6]: \"http://a b/\" is not a valid URI",
		}},
		{"post logout uris", func(c *Config) { c.Clients[0].PostLogoutRedirectURIs = []string{"https://a/", "relative/"} },
			[]string{"clients[0].post_logout_redirect_uris[1]: \"relative/\" must be an absolute URI"}},
		{"allowed connectors", func(c *Config) { c.Clients[0].AllowedConnectors = []string{"local", "github"} },
			[]string{"clients[0].allowed_connectors[1]: \"github\" is not a configured connector id (configured: \"local\")"}},
		{"client origins", func(c *Config) { c.Clients[0].AllowedOrigins = []string{"*"} },
			[]string{"clients[0].allowed_origins[0]: \"*\" is not an origin"}},
		{"users", func(c *Config) {
			c.Users = append(c.Users,
				User{Username: "alice", PasswordHash: testHash},
				User{Username: " ", PasswordHash: testHash},
				User{Username: "bob"},
				User{Username: "carol", PasswordHash: "hunter2"},
				User{Username: "dave", PasswordHash: "$2x$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
				User{Username: "erin", PasswordHash: "$2b$12$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
				User{Username: "fay", PasswordHash: "$2y$04$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
			)
		}, []string{
			"users[1].username: duplicate username \"alice\" (also users[0])",
			"users[2].username: is required",
			"users[3].password_hash: is required",
			"users[4].password_hash: does not look like a bcrypt hash",
			"users[5].password_hash: does not look like a bcrypt hash",
		}},
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

// TestValidateLines checks that Validate cites file:line for a parsed config, falling back to
// the nearest recorded ancestor for keys that are absent.
func TestValidateLines(t *testing.T) {
	src := `issuer: http://login.example.com
clients:
  - id: a
    redirect_uris:
      - https://a.example/cb
      - relative
  - id: a
    public: true
    secret: x
    redirect_uris: [https://b.example/cb]
connectors:
  - id: BAD
    type: local
users:
  - username: u
    password_hash: nope
`
	cfg, err := Parse([]byte(src), "gh.yaml", nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	cfg.ApplyDefaults()
	want := []string{
		`gh.yaml:1: issuer: "http://login.example.com" uses http on a non-loopback host`,
		`gh.yaml:12: connectors[0].id: "BAD" may contain only`,
		`gh.yaml:3: clients[0].secret: is required for a confidential client`,
		`gh.yaml:6: clients[0].redirect_uris[1]: "relative" must be an absolute URI`,
		`gh.yaml:7: clients[1].id: duplicate client id "a" (also clients[0])`,
		`gh.yaml:9: clients[1].secret: must not be set`,
		`gh.yaml:16: users[0].password_hash: does not look like a bcrypt hash`,
	}
	ps := problems(t, cfg.Validate())
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), &Errors{Problems: ps})
	}
	for i, w := range want {
		if !strings.Contains(ps[i].Error(), w) {
			t.Errorf("problem %d = %q, want it to contain %q", i, ps[i].Error(), w)
		}
	}
}

func TestPosition(t *testing.T) {
	cfg, err := Parse([]byte("issuer: https://a.example\nconnectors:\n  - id: x\n    type: nope\n"), "gh.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		line int
	}{
		{"connectors[0].type", 4},
		{"connectors[0].name", 3}, // absent: falls back to the list item
		{"connectors", 2},
		{"web.http", 0},
	}
	for _, tt := range tests {
		if file, line := cfg.Position(tt.path); file != "gh.yaml" || line != tt.line {
			t.Errorf("Position(%q) = %s:%d, want gh.yaml:%d", tt.path, file, line, tt.line)
		}
	}
	var c Config
	if file, line := c.Position("issuer"); file != "" || line != 0 {
		t.Errorf("unparsed Position = %q:%d", file, line)
	}
}

func TestValidateOpsKeys(t *testing.T) {
	tests := []struct {
		name, yaml, want string // want: "" for valid, else a substring of the error with its line
	}{
		{"defaults", "issuer: http://127.0.0.1:5556\n", ""},
		{"pprof with admin", "admin:\n  http: 127.0.0.1:9090\n  pprof: true\n", ""},
		{"pprof without admin", "admin:\n  pprof: true\n", "cfg.yaml:2: admin.pprof: needs admin.http"},
		{"audit keys", "audit:\n  retention: 720h\n  log: true\n", ""},
		{"retention too short", "audit:\n  retention: 10m\n", "cfg.yaml:2: audit.retention: must be at least 1h"},
		{"unknown audit key", "audit:\n  keep: 1h\n", "cfg.yaml:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.yaml), "cfg.yaml", func(string) string { return "" })
			if err == nil {
				cfg.ApplyDefaults()
				err = cfg.Validate()
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
			if tt.want == "" && tt.name == "defaults" && cfg.Audit.Retention.D() != DefaultAuditRetention {
				t.Errorf("default retention = %s, want %s", cfg.Audit.Retention.D(), DefaultAuditRetention)
			}
		})
	}
}
