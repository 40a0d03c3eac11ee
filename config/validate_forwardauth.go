package config

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
)

// headerNameRE is an HTTP header field name (RFC 9110 token characters).
var headerNameRE = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")

// hostRE is a lowercase DNS name or IPv4 address, with an optional port.
var hostRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$`)

// MaxAssertionLifetime bounds forward_auth.assertion_lifetime.
const MaxAssertionLifetime = time.Hour

// MaxSessionRecheck bounds forward_auth.session_recheck (how late a logout may reach the apps).
const MaxSessionRecheck = time.Minute

// forwardAuth checks protected_apps and forward_auth (no I/O).
func (v *validator) forwardAuth(c *Config, connectorIDs map[string]bool) {
	fa := c.ForwardAuth
	for i, cl := range c.Clients {
		if strings.HasPrefix(cl.ID, "app:") {
			v.addf(fmt.Sprintf("clients[%d].id", i), "%q: client IDs starting with app: are reserved for protected_apps", cl.ID)
		}
		if strings.HasPrefix(cl.ID, "gatehouse:") {
			v.addf(fmt.Sprintf("clients[%d].id", i), "%q: client IDs starting with gatehouse: are reserved for Gatehouse's own pages (the account page's sign-ins)", cl.ID)
		}
	}
	if len(c.ProtectedApps) == 0 {
		if fa != (ForwardAuth{}) {
			v.addf("forward_auth", "is set but protected_apps is empty: forward auth protects the apps listed there")
		}
		return
	}
	domain := strings.ToLower(strings.TrimPrefix(fa.CookieDomain, "."))
	switch {
	case fa.CookieDomain == "":
		v.addf("forward_auth.cookie_domain", "is required with protected_apps (e.g. .corp.example): the forward-auth cookie "+
			"must reach the apps' hosts and the issuer's host")
		domain = ""
	case !hostRE.MatchString(domain) || strings.Contains(domain, ":") || !strings.Contains(domain, "."):
		v.addf("forward_auth.cookie_domain", "%q is not a domain with at least two labels, such as .corp.example", fa.CookieDomain)
		domain = ""
	}
	if u, err := url.Parse(c.Issuer); err == nil && domain != "" && !hostWithin(strings.ToLower(u.Hostname()), domain) {
		v.addf("forward_auth.cookie_domain", "%q does not contain the issuer's host %q: the login sets the cookie on the issuer's host, "+
			"so the issuer must be within the domain", fa.CookieDomain, u.Hostname())
	}
	if fa.CookieName != "" && (!headerNameRE.MatchString(fa.CookieName) || strings.HasPrefix(strings.ToLower(fa.CookieName), "__host-")) {
		v.addf("forward_auth.cookie_name", "%q is not a valid cookie name (token characters; not __Host-: the cookie has a Domain)", fa.CookieName)
	}
	if fa.AssertionLifetime < 0 || fa.AssertionLifetime.D() > MaxAssertionLifetime {
		v.addf("forward_auth.assertion_lifetime", "must be between 0s (default 5m) and %s", MaxAssertionLifetime)
	}
	if fa.SessionRecheck < 0 || fa.SessionRecheck.D() > MaxSessionRecheck {
		v.addf("forward_auth.session_recheck", "must be between 0s (read the session on every check) and %s", MaxSessionRecheck)
	}
	if len(c.Web.TrustedProxies) == 0 {
		v.addf("web.trusted_proxies", "is required with protected_apps: the original URL is read only from the reverse proxies listed here")
	}
	clientIDs := map[string]bool{}
	for _, cl := range c.Clients {
		clientIDs[cl.ID] = true
	}
	ids, hosts := map[string]int{}, map[string]string{}
	for i, app := range c.ProtectedApps {
		p := fmt.Sprintf("protected_apps[%d]", i)
		switch {
		case app.ID == "":
			v.addf(p+".id", "is required (a short URL-safe name such as grafana)")
		case !connectorIDOK(app.ID):
			v.addf(p+".id", "%q may contain only lowercase letters, digits, '-' and '_'", app.ID)
		case clientIDs[app.ID]:
			v.addf(p+".id", "%q is also a client id: the assertion's audience must not name an OIDC client", app.ID)
		default:
			if j, dup := ids[app.ID]; dup {
				v.addf(p+".id", "duplicate protected app id %q (also protected_apps[%d])", app.ID, j)
			}
			ids[app.ID] = i
		}
		v.appHosts(p, app, domain, hosts)
		if app.MFA != "" {
			v.oneOf(p+".mfa", app.MFA, mfaPolicies...)
		}
		for j, id := range app.AllowedConnectors {
			if !connectorIDs[id] {
				v.addf(fmt.Sprintf("%s.allowed_connectors[%d]", p, j), "%q is not a configured connector id%s", id, knownList(connectorIDs))
			}
		}
		for j, pr := range app.Paths {
			pp := fmt.Sprintf("%s.paths[%d]", p, j)
			v.pathPrefix(pp+".prefix", pr.Prefix)
			if len(pr.Require.Groups) == 0 && len(pr.Require.EmailDomains) == 0 {
				v.addf(pp+".require", "is empty: a path rule must require groups or email_domains")
			}
		}
		for j, b := range app.Bypass {
			v.pathPrefix(fmt.Sprintf("%s.bypass[%d]", p, j), b)
		}
		v.appHeaders(p+".headers", app.Headers)
	}
}

// appHosts checks one app's hosts: well formed, within the cookie domain, each host in one
// app only (seen maps a host to the app path that has it).
func (v *validator) appHosts(p string, app ProtectedApp, domain string, seen map[string]string) {
	if len(app.Hosts) == 0 {
		v.addf(p+".hosts", "needs at least one host name the proxy serves the app on")
	}
	for j, h := range app.Hosts {
		hp := fmt.Sprintf("%s.hosts[%d]", p, j)
		name, _, err := net.SplitHostPort(h)
		if err != nil {
			name = h
		}
		switch {
		case !hostRE.MatchString(h):
			v.addf(hp, "%q is not a lowercase host name or host:port (no scheme, no path)", h)
		case domain != "" && !hostWithin(name, domain):
			v.addf(hp, "%q is not within forward_auth.cookie_domain %q", h, domain)
		case seen[h] != "":
			v.addf(hp, "%q is also a host of %s", h, seen[h])
		default:
			seen[h] = p
		}
	}
}

// pathPrefix checks a path prefix: absolute and clean.
func (v *validator) pathPrefix(p, prefix string) {
	if !strings.HasPrefix(prefix, "/") || path.Clean(prefix) != prefix || strings.ContainsAny(prefix, "?#%") {
		v.addf(p, "%q is not a clean absolute path such as /admin (no trailing slash, '..', '?', '#' or '%%')", prefix)
	}
}

// appHeaders checks the header names.
func (v *validator) appHeaders(p string, h AppHeaders) {
	seen := map[string]string{}
	for _, kv := range [][2]string{{"user", h.User}, {"email", h.Email}, {"groups", h.Groups}, {"preferred_username", h.PreferredUsername}} {
		if kv[1] == "" {
			continue
		}
		if !headerNameRE.MatchString(kv[1]) {
			v.addf(p+"."+kv[0], "%q is not a valid header name", kv[1])
			continue
		}
		canon := strings.ToLower(kv[1])
		if other, dup := seen[canon]; dup {
			v.addf(p+"."+kv[0], "%q is also the %s header", kv[1], other)
		}
		seen[canon] = kv[0]
	}
}
