package claims

import (
	"fmt"
	"maps"
	"slices"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
)

// CheckConnectorTrust refuses the settings that rely on what a connector cannot vouch for:
//
// Verified emails, where the connector cannot prove an email verified (it implements
// connectors.EmailVerifier and says no: LDAP and SAML without trust_email, self-managed GitLab
// without trust_email): a connector's claims.link: link_verified_email (an unproven email
// would take over the account already linked to that address), a connector's
// claims.require.email_domains, and a client's require.email_domains when its
// allowed_connectors names such a connector.
//
// Groups, where anyone may bring their own (connectors.GroupVerifier says no: Microsoft's
// multi-tenant endpoints without allowed_tenants): a connector's claims.require.groups and a
// client's require.groups when its allowed_connectors names such a connector.
//
// Attributes, where the connector will not read one a claims.map rule names
// (connectors.AttributeValidator: LDAP never reads password attributes).
//
// decoded maps each connector ID to its decoded config block. Problems name the key, its
// file:line, and the config key that would make the connector trustworthy. It returns nil or
// a *config.Errors.
func CheckConnectorTrust(cfg *config.Config, decoded map[string]connectors.Config) error {
	b := &builder{cfg: cfg}
	noEmail, noGroups := map[string]string{}, map[string]string{} // connector ID -> why
	for i, c := range cfg.Connectors {
		p := fmt.Sprintf("connectors[%d].claims", i)
		if why := emailDistrust(c, decoded[c.ID]); why != "" {
			noEmail[c.ID] = why
			if LinkPolicy(c.Claims.Link) == LinkVerifiedEmail {
				b.problem(p+".link", "link_verified_email needs a connector that can prove an email verified; %s", why)
			}
			if len(c.Claims.Require.EmailDomains) > 0 {
				b.problem(p+".require.email_domains", "an email-domain requirement needs a connector that can prove an email verified; %s", why)
			}
		}
		if why := groupDistrust(c, decoded[c.ID]); why != "" {
			noGroups[c.ID] = why
			if len(c.Claims.Require.Groups) > 0 {
				b.problem(p+".require.groups", "a group requirement needs a connector whose groups can be trusted; %s", why)
			}
		}
	}
	if err := b.checkAttributes(decoded); err != nil {
		return err
	}
	for i, cl := range cfg.Clients {
		for _, id := range cl.AllowedConnectors {
			if why, ok := noEmail[id]; ok && len(cl.Require.EmailDomains) > 0 {
				b.problem(fmt.Sprintf("clients[%d].require.email_domains", i), "an email-domain requirement needs connectors that can prove an email verified; %s", why)
			}
			if why, ok := noGroups[id]; ok && len(cl.Require.Groups) > 0 {
				b.problem(fmt.Sprintf("clients[%d].require.groups", i), "a group requirement needs connectors whose groups can be trusted; %s", why)
			}
		}
	}
	if len(b.problems) > 0 {
		return &config.Errors{Problems: b.problems}
	}
	return nil
}

// emailDistrust says why the connector cannot prove an email verified, or "".
func emailDistrust(c config.ConnectorBlock, cc connectors.Config) string {
	ev, ok := cc.(connectors.EmailVerifier)
	if !ok {
		return ""
	}
	if proves, key := ev.VerifiesEmail(); !proves {
		return fmt.Sprintf("%s connector %q cannot: set config.%s: true if only administrators can set its users' email addresses", c.Type, c.ID, key)
	}
	return ""
}

// groupDistrust says why the connector's groups cannot be trusted for requirements, or "".
func groupDistrust(c config.ConnectorBlock, cc connectors.Config) string {
	gv, ok := cc.(connectors.GroupVerifier)
	if !ok {
		return ""
	}
	if ok, key := gv.VerifiesGroups(); !ok {
		return fmt.Sprintf("%s connector %q admits users who bring their own groups: set config.%s", c.Type, c.ID, key)
	}
	return ""
}

// checkAttributes reports each claims.map rule that reads an attribute its connector refuses
// to read. Rules that do not parse or type-check are left to New, which reports them.
func (b *builder) checkAttributes(decoded map[string]connectors.Config) error {
	env, err := newEnv(upstreamVars)
	if err != nil {
		return err
	}
	for i, c := range b.cfg.Connectors {
		av, ok := decoded[c.ID].(connectors.AttributeValidator)
		if !ok {
			continue
		}
		for _, claim := range slices.Sorted(maps.Keys(c.Claims.Map)) {
			// Parse and check only: New compiles the rule into a program (and reports its errors).
			ast, iss := env.Compile(c.Claims.Map[claim])
			if iss != nil && iss.Err() != nil {
				continue
			}
			for _, a := range attrsRead(ast) {
				if err := av.ValidateAttribute(a); err != nil {
					b.problem(fmt.Sprintf("connectors[%d].claims.map.%s", i, claim), "reads attrs.%s, which %s connector %q never reads: %v", a, c.Type, c.ID, err)
				}
			}
		}
	}
	return nil
}
