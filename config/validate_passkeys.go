package config

import (
	"fmt"
	"net"
	"net/url"
)

// ConnectorPasskeys configures passkey sign-in for a connector's users (connectors[].passkeys).
type ConnectorPasskeys struct {
	// Enabled lets the connector's users sign in with a passkey alone (WebAuthn discoverable
	// credentials with user verification) and register passkeys on /account. Local
	// connectors only; needs mfa.secrets_key. The WebAuthn RP ID is mfa.webauthn.rp_id, or
	// the issuer's host name.
	Enabled bool `yaml:"enabled"`
}

// UsesPasskeys reports whether any connector enables passkeys.
func (c *Config) UsesPasskeys() bool {
	for _, cn := range c.Connectors {
		if cn.Passkeys.Enabled {
			return true
		}
	}
	return false
}

// passkeys checks connectors[].passkeys: local connectors only, and a WebAuthn RP ID to use
// (mfa.webauthn.rp_id, else the issuer's host, which must then be a domain name).
func (v *validator) passkeys(c *Config) {
	for i, cn := range c.Connectors {
		if !cn.Passkeys.Enabled {
			continue
		}
		p := fmt.Sprintf("connectors[%d].passkeys.enabled", i)
		if cn.Type != "local" {
			v.addf(p, "passkeys are for local connectors; %q is of type %q", cn.ID, cn.Type)
		}
		if c.MFA.WebAuthn.RPID != "" {
			continue
		}
		u, err := url.Parse(c.Issuer)
		if err != nil || u.Hostname() == "" {
			continue // the issuer's own check reports it
		}
		if net.ParseIP(u.Hostname()) != nil {
			v.addf(p, "the issuer's host %q is an IP address and WebAuthn needs a domain name: use a host name in issuer (localhost for local testing) or set mfa.webauthn.rp_id", u.Hostname())
		}
	}
}
