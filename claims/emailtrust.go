package claims

import (
	"fmt"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
)

// CheckEmailTrust refuses the settings that rely on verified emails where the connector
// cannot prove an email verified (it implements connectors.EmailVerifier and says no: LDAP and
// SAML without trust_email, self-managed GitLab without trust_email):
//   - a connector's claims.link: link_verified_email (an unproven email would take over the
//     account already linked to that address);
//   - a connector's claims.require.email_domains;
//   - a client's require.email_domains when its allowed_connectors names such a connector.
//
// decoded maps each connector ID to its decoded config block. Problems name the key, its
// file:line, and the config key that would make the connector trust its upstream's emails. It
// returns nil or a *config.Errors.
func CheckEmailTrust(cfg *config.Config, decoded map[string]connectors.Config) error {
	b := &builder{cfg: cfg}
	unproven := map[string]string{} // connector ID -> problem text
	for i, c := range cfg.Connectors {
		ev, ok := decoded[c.ID].(connectors.EmailVerifier)
		if !ok {
			continue
		}
		proves, key := ev.VerifiesEmail()
		if proves {
			continue
		}
		why := fmt.Sprintf("%s connector %q cannot: set config.%s: true if only administrators can set its users' email addresses", c.Type, c.ID, key)
		unproven[c.ID] = why
		p := fmt.Sprintf("connectors[%d].claims", i)
		if LinkPolicy(c.Claims.Link) == LinkVerifiedEmail {
			b.problem(p+".link", "link_verified_email needs a connector that can prove an email verified; %s", why)
		}
		if len(c.Claims.Require.EmailDomains) > 0 {
			b.problem(p+".require.email_domains", "an email-domain requirement needs a connector that can prove an email verified; %s", why)
		}
	}
	for i, cl := range cfg.Clients {
		if len(cl.Require.EmailDomains) == 0 {
			continue
		}
		for _, id := range cl.AllowedConnectors {
			if why, ok := unproven[id]; ok {
				b.problem(fmt.Sprintf("clients[%d].require.email_domains", i), "an email-domain requirement needs connectors that can prove an email verified; %s", why)
			}
		}
	}
	if len(b.problems) > 0 {
		return &config.Errors{Problems: b.problems}
	}
	return nil
}
