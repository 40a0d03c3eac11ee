package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// GrantTokenExchange is the grant type of token exchange (RFC 8693), as clients name it in
// grant_types.
const GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"

// SubjectTokenTypes are the subject_token_types a token_exchange policy may name.
var SubjectTokenTypes = []string{"access_token", "id_token"}

// tokenExchange checks every client's token_exchange policy and resources (RFC 8693,
// RFC 8707) against the grant types and the configured connectors; no I/O.
func (v *validator) tokenExchange(c *Config) {
	types := map[string]string{}
	for _, cb := range c.Connectors {
		types[cb.ID] = cb.Type
	}
	for i, cl := range c.Clients {
		p := fmt.Sprintf("clients[%d]", i)
		for j, r := range cl.Resources {
			if err := CheckResourceURI(r); err != nil {
				v.addf(fmt.Sprintf("%s.resources[%d]", p, j), "%v", err)
			}
		}
		te := cl.TokenExchange
		switch {
		case te == nil && cl.allowsGrant(GrantTokenExchange):
			v.addf(p+".grant_types", "%s needs a token_exchange policy (audiences, subject_token_types, delegation or impersonation)", GrantTokenExchange)
			continue
		case te == nil:
			continue
		case !cl.allowsGrant(GrantTokenExchange):
			v.addf(p+".token_exchange", "add %s to grant_types, or drop token_exchange", GrantTokenExchange)
		case cl.Public:
			v.addf(p+".token_exchange", "needs a confidential client (a public client cannot authenticate)")
		}
		v.tokenExchangePolicy(p+".token_exchange", cl, te, types)
	}
}

// tokenExchangePolicy checks one token_exchange block.
func (v *validator) tokenExchangePolicy(p string, cl Client, te *TokenExchange, types map[string]string) {
	if len(te.Audiences) == 0 && len(cl.Resources) == 0 {
		v.addf(p+".audiences", "name at least one audience (or resources on the client): an exchanged token must be for someone")
	}
	for j, a := range te.Audiences {
		if a == "" {
			v.addf(fmt.Sprintf("%s.audiences[%d]", p, j), "must not be empty")
		}
	}
	if !te.Delegation && !te.Impersonation {
		v.addf(p, "allows neither delegation nor impersonation; set one of them to true")
	}
	for j, st := range te.SubjectTokenTypes {
		if !slices.Contains(SubjectTokenTypes, st) {
			v.addf(fmt.Sprintf("%s.subject_token_types[%d]", p, j), "unknown subject token type %q (one of %v)", st, SubjectTokenTypes)
		}
	}
	if len(te.UpstreamConnectors) > 0 && !slices.Contains(te.SubjectTokenTypes, "id_token") {
		v.addf(p+".upstream_connectors", "upstream ID tokens are id_token subject tokens: add id_token to subject_token_types")
	}
	for j, id := range te.UpstreamConnectors {
		q := fmt.Sprintf("%s.upstream_connectors[%d]", p, j)
		switch t, ok := types[id]; {
		case !ok:
			v.addf(q, "%q is not a configured connector id", id)
		case t != "oidc":
			v.addf(q, "connector %q is of type %q; only oidc connectors verify upstream ID tokens", id, t)
		}
	}
}

// CheckResourceURI checks a resource indicator (RFC 8707 2): an absolute URI without a
// fragment.
func CheckResourceURI(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "" || err != nil:
		return fmt.Errorf("%q is not a URI", s)
	case !u.IsAbs():
		return fmt.Errorf("%q is not an absolute URI", s)
	case strings.Contains(s, "#"):
		return fmt.Errorf("%q has a fragment", s)
	case u.Opaque == "" && u.Host == "" && u.Path == "":
		return fmt.Errorf("%q names nothing", s)
	}
	return nil
}
