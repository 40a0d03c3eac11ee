package clients

import "slices"

// GrantTokenExchange is the grant type of token exchange (RFC 8693 2.1).
const GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"

// Token type identifiers (RFC 8693 3) Gatehouse accepts as subject or actor tokens and issues.
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
)

// ExchangePolicy is what one client may do with token exchange (config token_exchange).
type ExchangePolicy struct {
	// Audiences the client may ask exchanged tokens for; the first is the default.
	Audiences []string
	// SubjectTokenTypes are the accepted subject token types, as token type URIs.
	SubjectTokenTypes []string
	// Delegation allows an actor_token (the result carries act); Impersonation allows an
	// exchange without one.
	Delegation, Impersonation bool
	// UpstreamConnectors are the oidc connectors whose upstream ID tokens are accepted.
	UpstreamConnectors []string
}

// SubjectTokenTypeURI maps a config subject token type (access_token, id_token) to its
// RFC 8693 URI ("" when unknown).
func SubjectTokenTypeURI(short string) string {
	switch short {
	case "access_token":
		return TokenTypeAccessToken
	case "id_token":
		return TokenTypeIDToken
	}
	return ""
}

// AllowsResource reports whether the client may ask for a token for the resource indicator
// (exact match, RFC 8707).
func (c *Client) AllowsResource(r string) bool { return slices.Contains(c.Resources, r) }
