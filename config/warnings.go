package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// MinClientSecretLen is the length below which a client secret draws a warning.
const MinClientSecretLen = 16

// usageWarnings are the warnings about configurations that load but cannot work as meant:
// no connectors, users without a local connector, an issuer on loopback whose port is not the
// listener's, a wildcard in a redirect URI (matched exactly, so it matches only itself), a
// client secret shorter than MinClientSecretLen bytes. Each is "file:line: path: warning: ...".
func (c *Config) usageWarnings() []string {
	var out []string
	warn := func(path, format string, args ...any) {
		p := &Problem{File: c.src.fileName(), Line: c.src.line(path), Path: path, Message: "warning: " + fmt.Sprintf(format, args...)}
		out = append(out, p.Error())
	}
	hasLocal := false
	for _, cb := range c.Connectors {
		hasLocal = hasLocal || cb.Type == "local"
	}
	if len(c.Connectors) == 0 {
		warn("connectors", "no connectors: nobody can sign in (add one, e.g. type: local with users:, or ldap, oidc, github)")
	}
	if len(c.Users) > 0 && !hasLocal {
		warn("users", "%d user(s) but no connector of type local: they cannot sign in (add connectors: - {type: local, id: local})", len(c.Users))
	}
	if msg := c.issuerPortMismatch(); msg != "" {
		warn("issuer", "%s", msg)
	}
	for i, cl := range c.Clients {
		for j, u := range cl.RedirectURIs {
			if strings.Contains(u, "*") {
				warn(fmt.Sprintf("clients[%d].redirect_uris[%d]", i, j), "%q has a *: redirect URIs are matched exactly, so it matches only itself; list every URI", u)
			}
		}
		if cl.Secret != "" && len(cl.Secret) < MinClientSecretLen {
			warn(fmt.Sprintf("clients[%d].secret", i), "client %q: the secret is %d bytes, shorter than %d: use a long random one (openssl rand -base64 32)", cl.ID, len(cl.Secret), MinClientSecretLen)
		}
	}
	return out
}

// issuerPortMismatch says why an issuer on a loopback host cannot reach the listener of its
// scheme (another port), or "". Off loopback a proxy may sit between them.
func (c *Config) issuerPortMismatch() string {
	u, err := url.Parse(c.Issuer)
	if err != nil || !isLoopbackHost(u.Hostname()) {
		return ""
	}
	listen, key := c.Web.HTTP, "web.http"
	if u.Scheme == "https" {
		listen, key = c.Web.HTTPS, "web.https"
	}
	if listen == "" {
		return ""
	}
	_, lport, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	iport := u.Port()
	if iport == "" {
		iport = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if iport == lport {
		return ""
	}
	return fmt.Sprintf("the issuer %s is on loopback port %s but %s listens on port %s: browsers and apps will not reach it", c.Issuer, iport, key, lport)
}
