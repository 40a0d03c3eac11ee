package config

import "time"

// Defaults used by ApplyDefaults.
const (
	DefaultIssuer  = "http://127.0.0.1:5556"
	DefaultHTTP    = "127.0.0.1:5556"
	DefaultSQLite  = "gatehouse.db"
	DefaultSigning = "RS256"
	// DefaultReuseGrace is how long a client may retry a refresh whose response it lost with
	// the previous refresh token (expiry.refresh_tokens.reuse_grace).
	DefaultReuseGrace = 5 * time.Second
	// DefaultAuditRetention is how long audit events are kept (audit.retention): 90 days.
	DefaultAuditRetention = 2160 * time.Hour
)

// ApplyDefaults fills every unset setting with its default: the issuer
// http://127.0.0.1:5556, a listener on 127.0.0.1:5556 when neither web.http nor web.https is
// set, SQLite in gatehouse.db, RS256, info/text logging, and the lifetimes id_tokens 1h,
// access_tokens 1h, auth_codes 60s, auth_requests 30m, refresh_tokens 720h absolute / 168h
// idle, sessions 24h absolute / 1h idle, signing_keys 24h, audit.retention 2160h; with
// protected_apps, forward_auth.cookie_name gh_fwd, forward_auth.assertion_lifetime 5m and
// forward_auth.session_recheck 1s (unless the file sets it: 0s reads every time). A
// zero value counts as unset
// (a lifetime of 0 gets its default); refresh_tokens.reuse_grace is 5s unless the file sets
// it (0s turns the lost-response retry off).
func (c *Config) ApplyDefaults() {
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if c.Web.HTTP == "" && c.Web.HTTPS == "" {
		c.Web.HTTP = DefaultHTTP
	}
	if c.Storage.Type == "" {
		c.Storage.Type = "sqlite"
	}
	if c.Storage.Type == "sqlite" && c.Storage.Config.File == "" {
		c.Storage.Config.File = DefaultSQLite
	}
	if c.Storage.Type == "postgres" {
		setDefault(&c.Storage.Config.ConnectTimeout, 60*time.Second)
	}
	e := &c.Expiry
	setDefault(&e.IDTokens, time.Hour)
	setDefault(&e.AccessTokens, time.Hour)
	setDefault(&e.AuthCodes, 60*time.Second)
	setDefault(&e.AuthRequests, 30*time.Minute)
	setDefault(&e.RefreshTokens.Absolute, 720*time.Hour)
	setDefault(&e.RefreshTokens.Idle, 168*time.Hour)
	if e.RefreshTokens.ReuseGrace == 0 && !c.src.has("expiry.refresh_tokens.reuse_grace") {
		e.RefreshTokens.ReuseGrace = Duration(DefaultReuseGrace)
	}
	setDefault(&e.Sessions.Absolute, 24*time.Hour)
	setDefault(&e.Sessions.Idle, time.Hour)
	setDefault(&e.SigningKeys, 24*time.Hour)
	setDefault(&c.Audit.Retention, DefaultAuditRetention)
	c.applyDPoPDefaults()
	c.applyRegistrationDefaults()
	if c.Signing.Algorithm == "" {
		c.Signing.Algorithm = DefaultSigning
	}
	if c.Signing.Backend == "" {
		c.Signing.Backend = SigningBackendStorage
	}
	if c.Logging.Level == "" {
		c.Logging.Level = "info"
	}
	if c.Logging.Format == "" {
		c.Logging.Format = "text"
	}
	if len(c.ProtectedApps) > 0 {
		if c.ForwardAuth.CookieName == "" {
			c.ForwardAuth.CookieName = DefaultForwardAuthCookie
		}
		setDefault(&c.ForwardAuth.AssertionLifetime, 5*time.Minute)
		if c.ForwardAuth.SessionRecheck == 0 && !c.src.has("forward_auth.session_recheck") {
			c.ForwardAuth.SessionRecheck = Duration(DefaultSessionRecheck)
		}
	}
}

// DefaultSessionRecheck is forward_auth.session_recheck's default: a replica answers
// forward-auth checks from an SSO session it read less than a second ago (unless a session
// ended in that process since), so a logout on another replica reaches the apps within 1s.
const DefaultSessionRecheck = time.Second

// DefaultForwardAuthCookie is forward_auth.cookie_name's default.
const DefaultForwardAuthCookie = "gh_fwd"

func setDefault(d *Duration, v time.Duration) {
	if *d == 0 {
		*d = Duration(v)
	}
}
