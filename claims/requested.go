package claims

import (
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

// claimText is the consent page's words for a built-in claim asked for individually.
var claimText = map[string]string{
	"email":              "Your email address",
	"email_verified":     "Whether your email address is verified",
	"name":               "Your name",
	"preferred_username": "Your username",
	"groups":             "The groups you belong to",
}

// builtinScopeClaims are the claims each built-in scope releases (OIDC Core 5.4).
var builtinScopeClaims = map[string][]string{
	"email":   {"email", "email_verified"},
	"profile": {"name", "preferred_username"},
	"groups":  {"groups"},
}

// ClaimDescription returns the words the consent page shows for a claim a client asks for
// individually with the claims parameter: fixed words for the built-in claims, "Your
// <claim>" (underscores as spaces) for custom ones.
func (n *Normalizer) ClaimDescription(claim string) string {
	if t, ok := claimText[claim]; ok {
		return t
	}
	return "Your " + strings.ReplaceAll(claim, "_", " ")
}

// KnownClaim reports whether ClaimDescription has fixed words for the claim (a built-in
// one); a custom claim is shown as the catalog's "Your {{.Claim}}" in the user's language.
func (n *Normalizer) KnownClaim(claim string) bool { _, ok := claimText[claim]; return ok }

// Requestable reports whether the client may receive the claim when it asks for it
// individually with the claims parameter (clients[].claims.requestable). Claims Gatehouse
// sets itself (sub, acr, ...) never are.
func (n *Normalizer) Requestable(clientID, claim string) bool {
	cl := n.client(clientID)
	return cl != nil && !config.ReservedClaim(claim) && slices.Contains(cl.requestable, claim)
}

// IndividualClaims returns the claims among requested that the client gets only because it
// asked for them individually: not released by the granted scopes nor by the client's
// extra or hardcoded claims, and allowed by Requestable. They are what the user must consent
// to beyond the scopes, and the most the claims parameter adds. Sorted, no duplicates.
func (n *Normalizer) IndividualClaims(clientID string, scopes, requested []string) []string {
	var out []string
	for _, c := range requested {
		if !n.Requestable(clientID, c) || n.releasedAnyway(clientID, scopes, c) || slices.Contains(out, c) {
			continue
		}
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// releasedAnyway reports whether the scopes or the client's own claims release the claim.
func (n *Normalizer) releasedAnyway(clientID string, scopes []string, claim string) bool {
	for _, s := range scopes {
		if slices.Contains(builtinScopeClaims[s], claim) {
			return true
		}
		if n.rules != nil && n.rules.scopes[s] != nil && slices.Contains(n.rules.scopes[s].claims, claim) {
			return true
		}
	}
	cl := n.client(clientID)
	if cl == nil {
		return false
	}
	if _, ok := cl.hardcoded[claim]; ok {
		return true
	}
	return slices.ContainsFunc(cl.extra, func(e *expr) bool { return e.claim == claim })
}

// ClaimsWith is Claims plus the claims of individual (what the claims parameter asked for
// in the token or response being built, after consent) that the client's policy still
// allows, with the identity's values; a claim the identity lacks stays absent. It never
// adds a claim Requestable refuses.
func (n *Normalizer) ClaimsWith(clientID string, id storage.Identity, auth storage.Authentication, scopes, individual []string) map[string]any {
	out := n.Claims(clientID, id, auth, scopes)
	for _, c := range individual {
		if _, has := out[c]; has || !n.Requestable(clientID, c) {
			continue
		}
		if v, ok := identityClaim(id, c); ok {
			out[c] = v
		}
	}
	return out
}
