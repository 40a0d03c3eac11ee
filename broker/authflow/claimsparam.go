package authflow

import (
	"slices"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/storage"
)

// The claims request parameter (OIDC Core 5.5) in the flow: the claims a client asks for
// individually need the user's consent (listed on the consent page, stored with the
// consent), the code carries only the consented ones, and a request demanding a sub ends
// only for that user.

// individualClaims are the claims the request asks for individually (in the ID token or at
// userinfo) that the client's policy allows and its scopes do not release anyway: what the
// user consents to beyond the scopes.
func (f *Flow) individualClaims(ar storage.AuthRequest, c *clients.Client) []string {
	rc := ar.RequestedClaims
	if rc == nil {
		return nil
	}
	return f.Claims.IndividualClaims(c.ID, ar.Scopes, slices.Concat(rc.IDToken, rc.UserInfo))
}

// wrongSubject reports whether the request demands a sub (claims parameter, OIDC Core
// 5.5.1) that is not the identity's as the client sees it.
func (f *Flow) wrongSubject(ar storage.AuthRequest, clientID string, id storage.Identity) bool {
	if ar.RequestedClaims == nil || len(ar.RequestedClaims.Subject) == 0 {
		return false
	}
	return !slices.Contains(ar.RequestedClaims.Subject, f.Claims.SubjectFor(clientID, id.Subject))
}

// consentedClaims narrows the request's claims to what the code carries: the individual
// claims (which consent covered before finish), each where it was asked for. Claims the
// scopes release go to the ID token and userinfo anyway; the sub demand is done with once
// the user matched it.
func consentedClaims(rc *storage.RequestedClaims, individual []string) *storage.RequestedClaims {
	if rc == nil {
		return nil
	}
	keep := func(names []string) []string {
		return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !slices.Contains(individual, n) })
	}
	out := &storage.RequestedClaims{IDToken: keep(rc.IDToken), UserInfo: keep(rc.UserInfo)}
	if out.Empty() {
		return nil
	}
	return out
}
