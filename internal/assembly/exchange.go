package assembly

import (
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/config"
)

// exchangePolicy turns a client's token_exchange block into its policy (nil: none). Subject
// token types default to access_token.
func exchangePolicy(te *config.TokenExchange) *clients.ExchangePolicy {
	if te == nil {
		return nil
	}
	p := &clients.ExchangePolicy{
		Audiences: te.Audiences, Delegation: te.Delegation, Impersonation: te.Impersonation,
		UpstreamConnectors: te.UpstreamConnectors,
	}
	types := te.SubjectTokenTypes
	if len(types) == 0 {
		types = []string{"access_token"}
	}
	for _, t := range types {
		p.SubjectTokenTypes = append(p.SubjectTokenTypes, clients.SubjectTokenTypeURI(t))
	}
	return p
}
