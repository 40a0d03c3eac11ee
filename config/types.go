package config

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole Gatehouse configuration file.
type Config struct {
	// Issuer is the OIDC issuer URL; every endpoint lives under it.
	Issuer string `yaml:"issuer"`
	Web    Web    `yaml:"web"`
	// Admin is the separate listener for metrics and health (optional).
	Admin      Admin         `yaml:"admin"`
	Storage    Storage       `yaml:"storage"`
	Expiry     Expiry        `yaml:"expiry"`
	Signing    Signing       `yaml:"signing"`
	Logging    Logging       `yaml:"logging"`
	Clients    []Client      `yaml:"clients"`
	Connectors []Connector   `yaml:"connectors"`
	Users      []User        `yaml:"users"`
	Example    ExampleClient `yaml:"example"`

	// src records where each key came from (set by Parse) so Validate can cite file:line.
	src *source
}

// Web configures the public listener.
type Web struct {
	HTTP           string   `yaml:"http"`
	HTTPS          string   `yaml:"https"`
	TLSCert        string   `yaml:"tls_cert"`
	TLSKey         string   `yaml:"tls_key"`
	AllowedOrigins []string `yaml:"allowed_origins"`
	// TrustedProxies lists proxy addresses whose X-Forwarded-For is believed (rate limits, logs).
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Theme and TemplatesDir override the embedded web assets.
	TemplatesDir string `yaml:"templates_dir"`
}

// Admin configures the admin listener (health, metrics). Empty: health is on the public listener.
type Admin struct {
	HTTP string `yaml:"http"`
}

// Storage selects and configures the storage backend.
type Storage struct {
	Type   string        `yaml:"type"` // sqlite (default) | postgres
	Config StorageConfig `yaml:"config"`
}

// StorageConfig holds the settings of every backend; each backend reads its own keys.
type StorageConfig struct {
	File string `yaml:"file"` // sqlite
	DSN  string `yaml:"dsn"`  // postgres
	// Postgres discrete fields (used when DSN is empty).
	Host        string `yaml:"host"`
	Port        int    `yaml:"port"`
	Database    string `yaml:"database"`
	User        string `yaml:"user"`
	Password    string `yaml:"password"`
	SSLMode     string `yaml:"ssl_mode"`
	SSLRootCert string `yaml:"ssl_root_cert"`
	MaxConns    int    `yaml:"max_conns"`
}

// Expiry holds every lifetime. Zero values are replaced by defaults in Defaults().
type Expiry struct {
	IDTokens      Duration      `yaml:"id_tokens"`
	AccessTokens  Duration      `yaml:"access_tokens"`
	AuthCodes     Duration      `yaml:"auth_codes"`
	AuthRequests  Duration      `yaml:"auth_requests"`
	RefreshTokens RefreshExpiry `yaml:"refresh_tokens"`
	Sessions      SessionExpiry `yaml:"sessions"`
	SigningKeys   Duration      `yaml:"signing_keys"`
}

// RefreshExpiry bounds refresh tokens: Absolute from the login, Idle between uses.
type RefreshExpiry struct {
	Absolute Duration `yaml:"absolute"`
	Idle     Duration `yaml:"idle"`
	// ReuseGrace: a rotated token presented again within this window (a client's retry or a
	// race between replicas) is refused without revoking the family. Default 0s.
	ReuseGrace Duration `yaml:"reuse_grace"`
}

// SessionExpiry bounds SSO sessions.
type SessionExpiry struct {
	Absolute Duration `yaml:"absolute"`
	Idle     Duration `yaml:"idle"`
}

// Signing selects the token signing algorithm.
type Signing struct {
	Algorithm string `yaml:"algorithm"` // RS256 | ES256 | EdDSA
}

// Logging configures log output.
type Logging struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// Client is a registered OAuth 2.0 / OIDC client (relying party).
type Client struct {
	ID                     string   `yaml:"id"`
	Name                   string   `yaml:"name"`
	Secret                 string   `yaml:"secret"`
	Public                 bool     `yaml:"public"`
	RedirectURIs           []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	Trusted                bool     `yaml:"trusted"`
	// AllowedConnectors limits which connectors this client's users may log in with (empty: all).
	AllowedConnectors []string `yaml:"allowed_connectors"`
	AllowedOrigins    []string `yaml:"allowed_origins"`
}

// Connector is one configured upstream. Config stays a YAML node until the connector type's
// registry factory decodes it (see DecodeStrict).
type Connector struct {
	Type   string    `yaml:"type"`
	ID     string    `yaml:"id"`
	Name   string    `yaml:"name"`
	Config yaml.Node `yaml:"config"`
}

// User is a user of the local connector.
type User struct {
	Username      string   `yaml:"username"`
	Email         string   `yaml:"email"`
	EmailVerified bool     `yaml:"email_verified"`
	Name          string   `yaml:"name"`
	Groups        []string `yaml:"groups"`
	PasswordHash  string   `yaml:"password_hash"`
}

// ExampleClient configures the built-in example relying party at /example/.
type ExampleClient struct {
	// Enabled defaults to true only for the embedded default configuration.
	Enabled bool `yaml:"enabled"`
}

// Duration is a time.Duration written as "90s", "1h", "720h" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
