package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate checks the whole configuration and returns nil or an *Errors listing every
// problem, each with its key path (and file:line when the Config came from Parse). It does no
// I/O and changes nothing. Call it after ApplyDefaults: unset required settings are problems.
// Connector config blocks are checked by each connector type, not here.
func (c *Config) Validate() error {
	v := &validator{src: c.src, errs: &Errors{}, example: c.Example.Enabled}
	v.issuer(c.Issuer)
	v.web(&c.Web)
	v.admin(c)
	if c.Audit.Retention.D() < time.Hour {
		v.addf("audit.retention", "must be at least 1h (got %s)", c.Audit.Retention.D())
	}
	v.tracing(&c.Tracing)
	v.dpop(&c.DPoP)
	v.registration(&c.Registration)
	v.storage(&c.Storage)
	v.expiry(&c.Expiry)
	v.signing(&c.Signing)
	v.oneOf("logging.level", c.Logging.Level, "debug", "info", "warn", "error")
	v.oneOf("logging.format", c.Logging.Format, "text", "json")
	connectorIDs := v.connectors(c.Connectors)
	v.connectorDomains(c.Connectors)
	v.clients(c.Clients, connectorIDs)
	v.tokenExchange(c)
	v.users(c.Users)
	v.claimsConfig(c, connectorIDs)
	v.mfa(c)
	v.samlIdP(c, connectorIDs)
	v.forwardAuth(c, connectorIDs)
	v.secrets(&c.Secrets)
	return v.errs.err()
}

// ValidateSections checks the storage and secrets sections only (and the logging section),
// for the commands that open the store and nothing else (a Config from LoadSections, after
// ApplyDefaults).
func (c *Config) ValidateSections() error {
	v := &validator{src: c.src, errs: &Errors{}}
	v.storage(&c.Storage)
	v.oneOf("logging.level", c.Logging.Level, "debug", "info", "warn", "error")
	v.oneOf("logging.format", c.Logging.Format, "text", "json")
	v.secrets(&c.Secrets)
	return v.errs.err()
}

type validator struct {
	src  *source
	errs *Errors
	// example is example.enabled: the example app's client ID is taken.
	example bool
}

// ExampleClientID is the client ID of the example app (example.enabled).
const ExampleClientID = "example-app"

func (v *validator) addf(path, format string, args ...any) {
	v.errs.add(&Problem{
		File:    v.src.fileName(),
		Line:    v.src.line(path),
		Path:    path,
		Message: fmt.Sprintf(format, args...),
	})
}

func (v *validator) oneOf(path, got string, allowed ...string) {
	for _, a := range allowed {
		if got == a {
			return
		}
	}
	if got == "" {
		v.addf(path, "is required (one of %s)", strings.Join(allowed, ", "))
		return
	}
	v.addf(path, "must be one of %s, got %q", strings.Join(allowed, ", "), got)
}

func isLoopbackHost(host string) bool {
	// RFC 6761 6.3: localhost and every name under .localhost are loopback (browsers resolve
	// them to it themselves), so a test can give each app of one machine its own host name.
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (v *validator) issuer(s string) {
	const path = "issuer"
	if s == "" {
		v.addf(path, "is required, e.g. https://login.example.com")
		return
	}
	u, err := url.Parse(s)
	if err != nil {
		v.addf(path, "%q is not a URL: %v", s, unwrapURLError(err))
		return
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		v.addf(path, "%q must be an absolute https:// URL, e.g. https://login.example.com", s)
		return
	}
	if u.Host == "" || u.Hostname() == "" {
		v.addf(path, "%q has no host", s)
		return
	}
	if u.User != nil {
		v.addf(path, "%q must not contain a user name or password", s)
	}
	if u.RawQuery != "" || u.ForceQuery {
		v.addf(path, "%q must not have a query (?...)", s)
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		v.addf(path, "%q must not have a fragment (#...)", s)
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		v.addf(path, "%q uses http on a non-loopback host: use https:// "+
			"(plain http is allowed only for 127.0.0.1, localhost and ::1, for local testing)", s)
	}
}

func (v *validator) listenAddr(path, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.addf(path, "%q is not a host:port listen address, e.g. 127.0.0.1:5556 or :443", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.addf(path, "%q has an invalid port", addr)
	}
}

func (v *validator) web(w *Web) {
	if w.ShutdownDelay < 0 || w.ShutdownDelay.D() > 5*time.Minute {
		v.addf("web.shutdown_delay", "must be between 0s and 5m, got %s", w.ShutdownDelay.D())
	}
	if w.MaxConnections < 0 || w.MaxConnections > 1_000_000 {
		v.addf("web.max_connections", "must be between 0 (the default, 4096) and 1000000, got %d", w.MaxConnections)
	}
	if w.HTTP == "" && w.HTTPS == "" {
		v.addf("web", "needs web.http or web.https (a listen address such as 127.0.0.1:5556)")
	}
	if w.HTTP != "" {
		v.listenAddr("web.http", w.HTTP)
	}
	if w.HTTPS != "" {
		v.listenAddr("web.https", w.HTTPS)
		if w.TLSCert == "" {
			v.addf("web.tls_cert", "is required when web.https is set (path to a PEM certificate)")
		}
		if w.TLSKey == "" {
			v.addf("web.tls_key", "is required when web.https is set (path to a PEM private key)")
		}
	} else {
		if w.TLSCert != "" {
			v.addf("web.tls_cert", "is set but web.https is not; TLS is served only on web.https")
		}
		if w.TLSKey != "" {
			v.addf("web.tls_key", "is set but web.https is not; TLS is served only on web.https")
		}
		if w.ClientCA != "" {
			v.addf("web.client_ca", "is set but web.https is not; client certificates are asked for only on web.https")
		}
	}
	v.origins("web.allowed_origins", w.AllowedOrigins, true)
	for i, p := range w.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				v.addf(fmt.Sprintf("web.trusted_proxies[%d]", i), "%q is neither an IP address nor a CIDR range", p)
			}
		}
	}
}

// origins checks CORS origins: scheme://host[:port], nothing more ("*" when allowed).
func (v *validator) origins(path string, list []string, allowStar bool) {
	for i, o := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		if o == "*" && allowStar {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			v.addf(p, "%q is not an origin: write scheme://host[:port], e.g. https://app.example.com", o)
		}
	}
}

func (v *validator) storage(s *Storage) {
	switch s.Type {
	case "sqlite":
		if s.Config.File == "" {
			v.addf("storage.config.file", "is required for sqlite (path of the database file)")
		}
	case "postgres":
		if s.Config.DSN == "" && s.Config.Host == "" {
			v.addf("storage.config", "postgres needs dsn, or host (with database and user)")
		}
	case "":
		v.addf("storage.type", "is required (sqlite or postgres)")
	default:
		v.addf("storage.type", "must be sqlite or postgres, got %q", s.Type)
	}
	if p := s.Config.Port; p < 0 || p > 65535 {
		v.addf("storage.config.port", "%d is not a port number", p)
	}
	if s.Config.MaxConns < 0 {
		v.addf("storage.config.max_conns", "must not be negative")
	}
	if s.Config.ConnectTimeout < 0 {
		v.addf("storage.config.connect_timeout", "must not be negative")
	}
	if s.Config.ConnectTimeout != 0 && s.Type != "postgres" {
		v.addf("storage.config.connect_timeout", "applies to postgres only (sqlite opens a local file)")
	}
}

func (v *validator) expiry(e *Expiry) {
	positive := []struct {
		path string
		d    Duration
	}{
		{"expiry.id_tokens", e.IDTokens},
		{"expiry.access_tokens", e.AccessTokens},
		{"expiry.auth_codes", e.AuthCodes},
		{"expiry.auth_requests", e.AuthRequests},
		{"expiry.refresh_tokens.absolute", e.RefreshTokens.Absolute},
		{"expiry.refresh_tokens.idle", e.RefreshTokens.Idle},
		{"expiry.sessions.absolute", e.Sessions.Absolute},
		{"expiry.sessions.idle", e.Sessions.Idle},
		{"expiry.signing_keys", e.SigningKeys},
	}
	for _, p := range positive {
		if p.d <= 0 {
			v.addf(p.path, "must be greater than zero, got %s", p.d)
		}
	}
	if e.RefreshTokens.ReuseGrace < 0 {
		v.addf("expiry.refresh_tokens.reuse_grace", "must not be negative, got %s", e.RefreshTokens.ReuseGrace)
	}
	if r := e.RefreshTokens; r.Idle > 0 && r.Absolute > 0 && r.Idle > r.Absolute {
		v.addf("expiry.refresh_tokens.idle", "(%s) must not be longer than expiry.refresh_tokens.absolute (%s)", r.Idle, r.Absolute)
	}
	if s := e.Sessions; s.Idle > 0 && s.Absolute > 0 && s.Idle > s.Absolute {
		v.addf("expiry.sessions.idle", "(%s) must not be longer than expiry.sessions.absolute (%s)", s.Idle, s.Absolute)
	}
}

// A connector ID appears in URLs (callback paths, connector_id): keep it URL-safe.
func connectorIDOK(id string) bool { return regexp.MustCompile(`^[a-z0-9_-]+$`).MatchString(id) }

// connectors checks the connector list and returns the set of valid IDs.
func (v *validator) connectors(list []ConnectorBlock) map[string]bool {
	ids := map[string]bool{}
	first := map[string]int{}
	for i, c := range list {
		p := fmt.Sprintf("connectors[%d]", i)
		switch {
		case c.ID == "":
			v.addf(p+".id", "is required (a short URL-safe name such as ldap or github)")
		case !connectorIDOK(c.ID):
			v.addf(p+".id", "%q may contain only lowercase letters, digits, '-' and '_'", c.ID)
		default:
			if j, dup := first[c.ID]; dup {
				v.addf(p+".id", "duplicate connector id %q (also connectors[%d])", c.ID, j)
			} else {
				first[c.ID] = i
			}
		}
		ids[c.ID] = true
		if c.Type == "" {
			v.addf(p+".type", "is required (e.g. local, ldap, oidc, github)")
		}
		if c.Icon != "" && !iconNameOK(c.Icon) {
			v.addf(p+".icon", "%q is not an icon name (lowercase letters, digits and '-', at most 32)", c.Icon)
		}
		switch c.Logout {
		case "", ConnectorLogoutLocal:
		case ConnectorLogoutUpstream:
			if c.Type != "oidc" && c.Type != "saml" {
				v.addf(p+".logout", "upstream logout needs an oidc or saml connector (this one is %q); remove it or set local", c.Type)
			}
		default:
			v.addf(p+".logout", "%q is not a logout mode (local or upstream)", c.Logout)
		}
	}
	return ids
}

func (v *validator) clients(list []Client, connectorIDs map[string]bool) {
	first := map[string]int{}
	for i, c := range list {
		p := fmt.Sprintf("clients[%d]", i)
		if c.ID == "" {
			v.addf(p+".id", "is required")
		} else if j, dup := first[c.ID]; dup {
			v.addf(p+".id", "duplicate client id %q (also clients[%d])", c.ID, j)
		} else if c.ID == ExampleClientID && v.example {
			v.addf(p+".id", "%q is the example app's client ID (example.enabled): choose another", c.ID)
		} else {
			first[c.ID] = i
		}
		keyed := len(c.JWKS) > 0 || c.JWKSURI != ""
		switch {
		case !c.Public && c.Secret == "" && !keyed:
			v.addf(p+".secret", "is required for a confidential client; set one (e.g. secret: ${CLIENT_SECRET}), "+
				"jwks or jwks_uri for private_key_jwt, or set public: true for a browser or native app")
		case c.Public && c.Secret != "":
			v.addf(p+".secret", "must not be set: a public client (public: true) cannot keep a secret")
		}
		v.clientKeys(p, c)
		v.clientLogout(p, c)
		v.clientGrants(p, c)
		v.clientPAR(p, c)
		if len(c.RedirectURIs) == 0 && c.allowsGrant("authorization_code") {
			v.addf(p+".redirect_uris", "needs at least one redirect URI (or grant_types without authorization_code)")
		}
		for j, u := range c.RedirectURIs {
			v.redirectURI(fmt.Sprintf("%s.redirect_uris[%d]", p, j), u)
		}
		for j, u := range c.PostLogoutRedirectURIs {
			v.redirectURI(fmt.Sprintf("%s.post_logout_redirect_uris[%d]", p, j), u)
		}
		for j, id := range c.AllowedConnectors {
			if !connectorIDs[id] {
				v.addf(fmt.Sprintf("%s.allowed_connectors[%d]", p, j), "%q is not a configured connector id%s", id, knownList(connectorIDs))
			}
		}
		v.origins(p+".allowed_origins", c.AllowedOrigins, false)
	}
}

func knownList(ids map[string]bool) string {
	var known []string
	for id := range ids {
		if id != "" {
			known = append(known, strconv.Quote(id))
		}
	}
	if len(known) == 0 {
		return " (no connectors are configured)"
	}
	slices.Sort(known)
	return " (configured: " + strings.Join(known, ", ") + ")"
}

// redirectURI checks a redirect or post-logout URI: absolute, no fragment. Private-use
// schemes (com.example.app:/callback, RFC 8252) are allowed; http(s) needs a host.
func (v *validator) redirectURI(path, s string) {
	if s == "" {
		v.addf(path, "must not be empty")
		return
	}
	u, err := url.Parse(s)
	if err != nil {
		v.addf(path, "%q is not a valid URI: %v", s, unwrapURLError(err))
		return
	}
	if !u.IsAbs() {
		v.addf(path, "%q must be an absolute URI, e.g. https://app.example.com/callback", s)
		return
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		v.addf(path, "%q must not contain a fragment (#...)", s)
	}
	if (u.Scheme == "http" || u.Scheme == "https") && u.Host == "" {
		v.addf(path, "%q has no host", s)
	}
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok { //nolint:errorlint // url.Parse returns *url.Error directly
		return ue.Err
	}
	return err
}

func (v *validator) users(list []User) {
	first := map[string]int{}
	for i, u := range list {
		p := fmt.Sprintf("users[%d]", i)
		if strings.TrimSpace(u.Username) == "" {
			v.addf(p+".username", "is required")
		} else if j, dup := first[u.Username]; dup {
			v.addf(p+".username", "duplicate username %q (also users[%d])", u.Username, j)
		} else {
			first[u.Username] = i
		}
		switch {
		case u.PasswordHash == "":
			v.addf(p+".password_hash", "is required: a bcrypt hash from `gatehouse hash-password`")
		case !looksLikeBcrypt(u.PasswordHash):
			v.addf(p+".password_hash", "does not look like a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters); "+
				"make one with `gatehouse hash-password`")
		}
	}
}

func looksLikeBcrypt(h string) bool {
	return regexp.MustCompile(`^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$`).MatchString(h)
}

// ReservedClaim reports whether a claim name is set by Gatehouse itself (registered JWT and
// ID token claims) and so may not be mapped, added or released by a custom scope.
func ReservedClaim(name string) bool {
	switch name {
	case "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "acr", "amr",
		"azp", "sid", "at_hash", "c_hash", "client_id", "scope", "cnf":
		return true
	}
	return false
}

// BuiltinScope reports whether Gatehouse defines the scope itself.
func BuiltinScope(name string) bool {
	switch name {
	case "openid", "profile", "email", "groups", "offline_access":
		return true
	}
	return false
}

// IsGroupPattern reports whether a group allow/deny entry is a regular expression rather
// than a plain group name (it contains regular-expression syntax).
func IsGroupPattern(s string) bool { return regexp.QuoteMeta(s) != s }

var (
	claimNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$`)
	scopeNameRe = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,64}$`)
	domainRe    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
)

func (v *validator) claimName(path, name string) {
	switch {
	case !claimNameRe.MatchString(name):
		v.addf(path, "%q is not a valid claim name (letters, digits, _ . : -; at most 64 characters)", name)
	case ReservedClaim(name):
		v.addf(path, "%q is set by Gatehouse itself and cannot be configured", name)
	}
}

func (v *validator) requirement(path string, r Requirement) {
	for i, g := range r.Groups {
		if strings.TrimSpace(g) == "" {
			v.addf(fmt.Sprintf("%s.groups[%d]", path, i), "must not be empty")
		}
	}
	for i, d := range r.EmailDomains {
		if !domainRe.MatchString(d) {
			v.addf(fmt.Sprintf("%s.email_domains[%d]", path, i), "%q is not a lowercase domain name such as example.com (no @)", d)
		}
	}
}

// claimsConfig checks the claims pipeline settings. CEL expressions are compiled (with file:line
// problems) by the claims package, which owns the expression language.
func (v *validator) claimsConfig(c *Config, connectorIDs map[string]bool) {
	for i, cn := range c.Connectors {
		p := fmt.Sprintf("connectors[%d].claims", i)
		cc := cn.Claims
		for _, name := range slices.Sorted(maps.Keys(cc.Map)) {
			expr := cc.Map[name]
			v.claimName(p+".map."+name, name)
			if strings.TrimSpace(expr) == "" {
				v.addf(p+".map."+name, "needs a CEL expression")
			}
		}
		for j, pat := range cc.Groups.Allow {
			v.groupPattern(fmt.Sprintf("%s.groups.allow[%d]", p, j), pat)
		}
		for j, pat := range cc.Groups.Deny {
			v.groupPattern(fmt.Sprintf("%s.groups.deny[%d]", p, j), pat)
		}
		for _, from := range slices.Sorted(maps.Keys(cc.Groups.Rename)) {
			to := cc.Groups.Rename[from]
			if from == "" || strings.TrimSpace(to) == "" {
				v.addf(p+".groups.rename."+from, "renames need a group name on both sides")
			}
		}
		v.requirement(p+".require", cc.Require)
		switch cc.Link {
		case "", "create", "link_verified_email", "deny_unknown":
		default:
			v.addf(p+".link", "must be one of create, link_verified_email, deny_unknown, got %q", cc.Link)
		}
	}
	pairwise := false
	clientIDs := map[string]bool{}
	for i, cl := range c.Clients {
		clientIDs[cl.ID] = true
		p := fmt.Sprintf("clients[%d]", i)
		v.requirement(p+".require", cl.Require)
		for _, name := range slices.Sorted(maps.Keys(cl.Claims.Extra)) {
			expr := cl.Claims.Extra[name]
			v.claimName(p+".claims.extra."+name, name)
			if strings.TrimSpace(expr) == "" {
				v.addf(p+".claims.extra."+name, "needs a CEL expression")
			}
			if _, dup := cl.Claims.Hardcoded[name]; dup {
				v.addf(p+".claims.hardcoded."+name, "claim %q is also in claims.extra; set it in one place", name)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(cl.Claims.Hardcoded)) {
			val := cl.Claims.Hardcoded[name]
			v.claimName(p+".claims.hardcoded."+name, name)
			if _, err := json.Marshal(val); err != nil {
				v.addf(p+".claims.hardcoded."+name, "is not a JSON value (use strings, numbers, booleans, lists and mappings)")
			}
		}
		for j, name := range cl.Claims.Requestable {
			v.claimName(fmt.Sprintf("%s.claims.requestable[%d]", p, j), name)
		}
		switch cl.SubjectType {
		case "", "public":
		case "pairwise":
			pairwise = true
			v.pairwiseSector(p, cl.RedirectURIs)
		default:
			v.addf(p+".subject_type", "must be public or pairwise, got %q", cl.SubjectType)
		}
	}
	switch {
	case pairwise && c.PairwiseSalt == "":
		v.addf("pairwise_salt", "is required when a client uses subject_type: pairwise "+
			"(a long random secret, e.g. pairwise_salt: ${PAIRWISE_SALT}; changing it changes every pairwise sub)")
	case c.PairwiseSalt != "" && len(c.PairwiseSalt) < 16:
		v.addf("pairwise_salt", "is too short: use at least 16 random characters")
	}
	scopes := map[string]int{}
	for i, sc := range c.Scopes {
		p := fmt.Sprintf("scopes[%d]", i)
		switch {
		case sc.Name == "":
			v.addf(p+".name", "is required")
		case !scopeNameRe.MatchString(sc.Name):
			v.addf(p+".name", "%q is not a valid scope name (printable ASCII without spaces, quotes or backslashes)", sc.Name)
		case BuiltinScope(sc.Name):
			v.addf(p+".name", "%q is a built-in scope and cannot be redefined", sc.Name)
		default:
			if j, dup := scopes[sc.Name]; dup {
				v.addf(p+".name", "duplicate scope %q (also scopes[%d])", sc.Name, j)
			}
			scopes[sc.Name] = i
		}
		if len(sc.Claims) == 0 {
			v.addf(p+".claims", "needs at least one claim name")
		}
		for j, name := range sc.Claims {
			v.claimName(fmt.Sprintf("%s.claims[%d]", p, j), name)
		}
	}
	for i, tc := range c.ClaimsTests {
		p := fmt.Sprintf("claims_tests[%d]", i)
		if tc.Name == "" {
			v.addf(p+".name", "is required")
		}
		if !connectorIDs[tc.Connector] || tc.Connector == "" {
			v.addf(p+".connector", "%q is not a configured connector id%s", tc.Connector, knownList(connectorIDs))
		}
		if tc.Client != "" && !clientIDs[tc.Client] {
			v.addf(p+".client", "%q is not a configured client id", tc.Client)
		}
		if tc.Input.Subject == "" {
			v.addf(p+".input.subject", "is required (the upstream's stable user ID)")
		}
		if tc.Expect.Denied && len(tc.Expect.Claims) > 0 {
			v.addf(p+".expect", "expects both a denial and claims; a denied login issues no claims")
		}
		if !tc.Expect.Denied && tc.Expect.Reason != "" {
			v.addf(p+".expect.reason", "is only checked with denied: true")
		}
	}
}

func (v *validator) groupPattern(path, pat string) {
	if pat == "" {
		v.addf(path, "must not be empty")
		return
	}
	if IsGroupPattern(pat) {
		if _, err := regexp.Compile(pat); err != nil {
			v.addf(path, "%q is not a valid regular expression: %v", pat, err)
		}
	}
}

// pairwiseSector checks that a pairwise client's redirect URIs share one host (the sector
// identifier of OIDC Core 8.1; sector_identifier_uri is not supported).
func (v *validator) pairwiseSector(p string, uris []string) {
	sectors := map[string]bool{}
	for _, u := range uris {
		if s := SectorOf(u); s != "" {
			sectors[s] = true
		}
	}
	if len(sectors) > 1 {
		v.addf(p+".redirect_uris", "a pairwise client's redirect URIs must all be on one host (the sector); found %d hosts", len(sectors))
	}
}

// SectorOf returns the sector identifier of a redirect URI for pairwise subjects: its host
// (lowercased), or its scheme for a private-use URI scheme without a host. "" when unparsable.
func SectorOf(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	if h := u.Hostname(); h != "" {
		return strings.ToLower(h)
	}
	return strings.ToLower(u.Scheme)
}

// iconNameOK reports whether s has the shape of a built-in icon name; which names exist is
// checked where the icons are (internal/assembly against web.IconNames).
func iconNameOK(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
		default:
			return false
		}
	}
	return true
}
