package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// minMFASecretsKey is the shortest mfa.secrets_key accepted (mfa.MinSecretsKeyLen).
const minMFASecretsKey = 32

// mfaPolicies are the values of connectors[].mfa and clients[].mfa ("" is off).
var mfaPolicies = []string{"required", "optional", "off"}

// UsesMFA reports whether any connector, client or service provider asks for a second factor, or WebAuthn is
// configured: then mfa.secrets_key is needed and the MFA pages are served.
func (c *Config) UsesMFA() bool {
	if c.MFA.WebAuthn.RPID != "" || c.MFA.SecretsKey != "" || c.UsesPasskeys() {
		return true
	}
	for _, cn := range c.Connectors {
		if cn.MFA != "" && cn.MFA != "off" {
			return true
		}
	}
	for _, cl := range c.Clients {
		if cl.MFA != "" && cl.MFA != "off" {
			return true
		}
	}
	for _, app := range c.ProtectedApps {
		if app.MFA != "" && app.MFA != "off" {
			return true
		}
	}
	for _, sp := range c.ServiceProviders {
		if sp.MFA != "" && sp.MFA != "off" {
			return true
		}
	}
	return false
}

// mfa checks the mfa block and the per-connector and per-client policies.
func (v *validator) mfa(c *Config) {
	v.passkeys(c)
	for i, cn := range c.Connectors {
		if cn.MFA != "" {
			v.oneOf(fmt.Sprintf("connectors[%d].mfa", i), cn.MFA, mfaPolicies...)
		}
	}
	for i, cl := range c.Clients {
		if cl.MFA != "" {
			v.oneOf(fmt.Sprintf("clients[%d].mfa", i), cl.MFA, mfaPolicies...)
		}
	}
	for i, sp := range c.ServiceProviders {
		if sp.MFA != "" {
			v.oneOf(fmt.Sprintf("service_providers[%d].mfa", i), sp.MFA, mfaPolicies...)
		}
		for j, class := range sp.MFAClasses {
			if u, err := url.Parse(class); err != nil || u.Scheme == "" || strings.ContainsAny(class, " \t\n") || len(class) > 1024 {
				v.addf(fmt.Sprintf("service_providers[%d].mfa_classes[%d]", i, j), "%q is not an absolute URI (an AuthnContextClassRef such as https://refeds.org/profile/mfa)", class)
			}
		}
	}
	if !c.UsesMFA() {
		return
	}
	m := c.MFA
	switch {
	case m.SecretsKey == "":
		v.addf("mfa.secrets_key", "is required when a connector, client or service provider sets mfa, a connector enables passkeys, or mfa.webauthn is set: "+
			"a random value of at least %d characters (e.g. secrets_key: ${GATEHOUSE_MFA_KEY}); it seals TOTP secrets at rest", minMFASecretsKey)
	case len(m.SecretsKey) < minMFASecretsKey:
		v.addf("mfa.secrets_key", "is too short (%d characters): use a random value of at least %d", len(m.SecretsKey), minMFASecretsKey)
	}
	w := m.WebAuthn
	if w.RPID == "" {
		if w.RPName != "" || len(w.Origins) > 0 {
			v.addf("mfa.webauthn.rp_id", "is required when mfa.webauthn is set (the issuer's host name, e.g. sso.example.com)")
		}
		return
	}
	if net.ParseIP(w.RPID) != nil {
		v.addf("mfa.webauthn.rp_id", "%q is an IP address; WebAuthn needs a domain name (use localhost for local testing)", w.RPID)
		return
	}
	if strings.ContainsAny(w.RPID, ":/") {
		v.addf("mfa.webauthn.rp_id", "%q must be a bare host name, without scheme, port or path", w.RPID)
		return
	}
	v.origins("mfa.webauthn.origins", w.Origins, false)
	hosts := []string{}
	if u, err := url.Parse(c.Issuer); err == nil && u.Hostname() != "" {
		hosts = append(hosts, u.Hostname())
	}
	for _, o := range w.Origins {
		if u, err := url.Parse(o); err == nil && u.Hostname() != "" {
			hosts = append(hosts, u.Hostname())
		}
	}
	for _, h := range hosts {
		if !hostWithin(h, w.RPID) {
			v.addf("mfa.webauthn.rp_id", "%q must be the host %q or a parent domain of it (WebAuthn binds credentials to it)", w.RPID, h)
		}
	}
}

// hostWithin reports whether host is domain or a subdomain of it.
func hostWithin(host, domain string) bool {
	host, domain = strings.ToLower(host), strings.ToLower(strings.TrimSuffix(domain, "."))
	return host == domain || strings.HasSuffix(host, "."+domain)
}
