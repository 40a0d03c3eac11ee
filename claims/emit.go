package claims

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"maps"
	"slices"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Scope descriptions shown on the consent page, and the scopes Gatehouse knows.
var scopeText = map[string]string{
	"openid":         "",
	"profile":        "Your name and username",
	"email":          "Your email address",
	"groups":         "The groups you belong to",
	"offline_access": "Keep access while you are away (stay signed in to the app)",
}

// KnownScope reports whether the scope is built in.
func KnownScope(s string) bool { _, ok := scopeText[s]; return ok }

// SupportedScopes lists the built-in scopes, for discovery.
func SupportedScopes() []string {
	return []string{"openid", "profile", "email", "groups", "offline_access"}
}

// ScopeDescription returns the words the consent page shows for a built-in scope ("" for none).
func ScopeDescription(s string) string { return scopeText[s] }

// SupportedClaims lists the claims Gatehouse can release without custom rules, for discovery.
func SupportedClaims() []string {
	return []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "amr", "azp",
		"email", "email_verified", "name", "preferred_username", "groups"}
}

// ForScopes returns the identity claims the built-in scopes release (OIDC Core 5.4).
func ForScopes(id storage.Identity, scopes []string) map[string]any {
	out := make(map[string]any, 6)
	for _, s := range scopes {
		switch s {
		case "email":
			if id.Email != "" {
				out["email"] = id.Email
				out["email_verified"] = id.EmailVerified
			}
		case "profile":
			if id.Name != "" {
				out["name"] = id.Name
			}
			if id.PreferredUsername != "" {
				out["preferred_username"] = id.PreferredUsername
			}
		case "groups":
			g := id.Groups
			if g == nil {
				g = []string{}
			}
			out["groups"] = g
		}
	}
	return out
}

// KnownScope reports whether the scope is built in or configured.
func (n *Normalizer) KnownScope(s string) bool {
	if KnownScope(s) {
		return true
	}
	return n.rules != nil && n.rules.scopes[s] != nil
}

// SupportedScopes lists the built-in and configured scopes, for discovery.
func (n *Normalizer) SupportedScopes() []string {
	out := SupportedScopes()
	if n.rules != nil {
		out = append(out, n.rules.scopeOrder...)
	}
	return out
}

// ScopeDescription returns the words the consent page shows for a scope ("" for none).
func (n *Normalizer) ScopeDescription(s string) string {
	if t, ok := scopeText[s]; ok {
		return t
	}
	if n.rules == nil || n.rules.scopes[s] == nil {
		return ""
	}
	sc := n.rules.scopes[s]
	if sc.description != "" {
		return sc.description
	}
	return "Your " + joinWords(sc.claims)
}

// CustomScopeClaims returns the claims of a custom scope that has no description of its own
// (nil for any other scope): the consent page shows them as the catalog's "Your {{.Claims}}"
// in the user's language, where ScopeDescription gives the English text.
func (n *Normalizer) CustomScopeClaims(s string) []string {
	if _, ok := scopeText[s]; ok || n.rules == nil || n.rules.scopes[s] == nil || n.rules.scopes[s].description != "" {
		return nil
	}
	return slices.Clone(n.rules.scopes[s].claims)
}

func joinWords(ws []string) string {
	switch len(ws) {
	case 0:
		return ""
	case 1:
		return ws[0]
	}
	out := ""
	for i, w := range ws {
		switch {
		case i == 0:
		case i == len(ws)-1:
			out += " and "
		default:
			out += ", "
		}
		out += w
	}
	return out
}

// SupportedClaims lists every claim Gatehouse may release, for discovery.
func (n *Normalizer) SupportedClaims() []string {
	out := SupportedClaims()
	if n.rules == nil {
		return out
	}
	var more []string
	for _, sc := range n.rules.scopes {
		more = append(more, sc.claims...)
	}
	for _, cl := range n.rules.clients {
		for _, e := range cl.extra {
			more = append(more, e.claim)
		}
		more = slices.AppendSeq(more, maps.Keys(cl.hardcoded))
	}
	slices.Sort(more)
	for _, c := range slices.Compact(more) {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// SubjectTypes lists the subject types in use, for discovery.
func (n *Normalizer) SubjectTypes() []string {
	if n.rules != nil && n.rules.pairwise {
		return []string{"public", "pairwise"}
	}
	return []string{"public"}
}

// SubjectFor returns the sub a client sees for an internal user ID: the ID itself, or for a
// pairwise client (OIDC Core 8.1) base64url(SHA-256(sector || sub || salt)), where the
// sector is the host of the client's redirect URIs. It applies to the ID token, userinfo,
// the access token's sub and introspection.
func (n *Normalizer) SubjectFor(clientID, sub string) string {
	cl := n.client(clientID)
	if cl == nil || !cl.pairwise {
		return sub
	}
	return pairwiseSubject(cl.sector, sub, n.rules.salt)
}

func pairwiseSubject(sector, sub, salt string) string {
	h := sha256.New()
	h.Write([]byte(sector))
	h.Write([]byte(sub))
	h.Write([]byte(salt))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// Claims returns the claims a client receives in its ID token and from userinfo (never sub,
// which the caller sets with SubjectFor): the built-in scopes' claims, then the claims of
// granted custom scopes, then the client's extra claims (CEL over the final identity), then
// its hardcoded claims, each overriding the ones before.
func (n *Normalizer) Claims(clientID string, id storage.Identity, auth storage.Authentication, scopes []string) map[string]any {
	out := ForScopes(id, scopes)
	if n.rules == nil {
		return out
	}
	for _, s := range scopes {
		sc := n.rules.scopes[s]
		if sc == nil {
			continue
		}
		for _, c := range sc.claims {
			if v, ok := identityClaim(id, c); ok {
				out[c] = v
			}
		}
	}
	cl := n.rules.clients[clientID]
	if cl == nil {
		return out
	}
	if len(cl.extra) > 0 {
		vars := identityActivation(n.SubjectFor(clientID, id.Subject), id, auth)
		for _, e := range cl.extra {
			v, err := e.eval(context.Background(), vars)
			if err != nil {
				n.logger().Warn("client claim expression failed; the claim is left out", "client_id", clientID, "claim", e.claim, "err", err)
				continue
			}
			out[e.claim] = v
		}
	}
	for k, v := range cl.hardcoded {
		out[k] = v
	}
	return out
}

// identityClaim returns one named claim of an identity.
func identityClaim(id storage.Identity, name string) (any, bool) {
	switch name {
	case "email":
		return id.Email, id.Email != ""
	case "email_verified":
		return id.EmailVerified, id.Email != ""
	case "name":
		return id.Name, id.Name != ""
	case "preferred_username":
		return id.PreferredUsername, id.PreferredUsername != ""
	case "groups":
		if id.Groups == nil {
			return []string{}, true
		}
		return id.Groups, true
	}
	v, ok := id.Extra[name]
	return v, ok
}

// identityActivation is the variables of a client extra-claim expression; sub is the
// subject as the client sees it.
func identityActivation(sub string, id storage.Identity, auth storage.Authentication) map[string]any {
	extra := id.Extra
	if extra == nil {
		extra = map[string]any{}
	}
	return map[string]any{
		"subject":        sub,
		"username":       id.PreferredUsername,
		"email":          id.Email,
		"email_verified": id.EmailVerified,
		"name":           id.Name,
		"groups":         nonNil(id.Groups),
		"claims":         extra,
		"connector":      auth.ConnectorID,
		"acr":            auth.ACR,
		"amr":            nonNil(auth.AMR),
	}
}
