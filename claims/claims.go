// Package claims turns what an upstream asserted (connectors.Upstream) into Gatehouse's one
// canonical identity (storage.Identity), links the upstream account to a stable internal user
// ID (the `sub` Gatehouse issues), and decides which claims each scope releases.
//
// This is the core's minimal pipeline: default mapping and linking. CEL mapping rules, group
// filters and required groups plug in here (see docs/architecture.md).
package claims

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Normalizer maps and links upstream identities.
type Normalizer struct {
	Links storage.LinkStore
	Now   func() time.Time
}

// Normalize maps the upstream identity of a connector to the canonical identity, linking the
// upstream account to an internal user ID (created on first login).
func (n *Normalizer) Normalize(ctx context.Context, connectorID string, up connectors.Upstream) (storage.Identity, error) {
	if up.Subject == "" {
		return storage.Identity{}, fmt.Errorf("claims: connector %s returned no subject", connectorID)
	}
	newID, err := NewUserID()
	if err != nil {
		return storage.Identity{}, err
	}
	uid, _, err := n.Links.LinkUser(ctx, connectorID, up.Subject, newID, n.Now().UTC())
	if err != nil {
		return storage.Identity{}, fmt.Errorf("claims: link %s account: %w", connectorID, err)
	}
	id := storage.Identity{
		Subject:           uid,
		Email:             up.Email,
		EmailVerified:     up.EmailVerified && up.Email != "",
		Name:              up.Name,
		PreferredUsername: up.Username,
		Groups:            slices.Clone(up.Groups),
	}
	if id.Name == "" {
		id.Name = id.PreferredUsername
	}
	return id, nil
}

// NewUserID returns a fresh internal user ID: 128 random bits, hex.
func NewUserID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("claims: random: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Scope descriptions shown on the consent page, and the scopes Gatehouse knows.
var scopeText = map[string]string{
	"openid":         "",
	"profile":        "Your name and username",
	"email":          "Your email address",
	"groups":         "The groups you belong to",
	"offline_access": "Keep access while you are away (stay signed in to the app)",
}

// KnownScope reports whether Gatehouse understands the scope.
func KnownScope(s string) bool { _, ok := scopeText[s]; return ok }

// SupportedScopes lists the known scopes, for discovery.
func SupportedScopes() []string {
	return []string{"openid", "profile", "email", "groups", "offline_access"}
}

// ScopeDescription returns the words the consent page shows for a scope ("" for none).
func ScopeDescription(s string) string { return scopeText[s] }

// SupportedClaims lists the claims Gatehouse can release, for discovery.
func SupportedClaims() []string {
	return []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "amr", "azp",
		"email", "email_verified", "name", "preferred_username", "groups"}
}

// ForScopes returns the identity claims the granted scopes release (OIDC Core 5.4).
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
