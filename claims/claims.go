// Package claims turns what an upstream asserted (connectors.Upstream) into Gatehouse's one
// canonical identity (storage.Identity), links the upstream account to a stable internal user
// ID (the `sub` Gatehouse issues), and decides which claims reach which token.
//
// A Normalizer built by New from the configuration runs, for every login and refresh:
//
//  1. Map: the connector's upstream fields are the defaults; CEL expressions in
//     connectors[].claims.map override them or add custom claims (compiled at load with a
//     cost limit).
//  2. Filter groups: allow and deny (plain names or regular expressions), rename, prefix.
//  3. Authorize: the connector's require (groups, verified email domains) or a
//     *connectors.DeniedError with a reason a user understands.
//  4. Link: (connector, upstream subject) maps to an internal user ID, by the connector's
//     link policy: create, link_verified_email or deny_unknown.
//
// Emission (Claims, SubjectFor, AuthorizeClient) then applies scopes, custom scopes, a
// client's extra and hardcoded claims, its required groups and its subject type (public or
// pairwise). A zero Normalizer with Links set works too: default mapping, create policy, no
// custom rules.
package claims

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Normalizer maps, filters, authorizes and links upstream identities, and shapes the claims
// each client receives.
type Normalizer struct {
	Links storage.LinkStore
	Now   func() time.Time
	// Logger receives evaluation problems (nil: discarded).
	Logger *slog.Logger

	rules *ruleset               // nil: defaults only
	newID func() (string, error) // nil: NewUserID
}

// Normalize maps the upstream identity of a connector to the canonical identity, linking the
// upstream account to an internal user ID. A user the rules turn away gets a
// *connectors.DeniedError.
func (n *Normalizer) Normalize(ctx context.Context, connectorID string, up connectors.Upstream) (storage.Identity, error) {
	return n.run(ctx, connectorID, up, nil)
}

// run is Normalize, recording what each step did in tr (when non-nil).
func (n *Normalizer) run(ctx context.Context, connectorID string, up connectors.Upstream, tr *Trace) (storage.Identity, error) {
	if up.Subject == "" {
		return storage.Identity{}, fmt.Errorf("claims: connector %s returned no subject", connectorID)
	}
	if err := checkUpstream(up); err != nil {
		return storage.Identity{}, fmt.Errorf("claims: connector %s: %w", connectorID, err)
	}
	cr := n.connector(connectorID)
	id, upstreamGroups, err := n.mapIdentity(ctx, cr, up, tr)
	if err != nil {
		return storage.Identity{}, err
	}
	id.Groups = cr.filterGroups(id.Groups, tr.step("filter groups"))
	if err := cr.authorize(upstreamGroups, id, tr.step("authorize")); err != nil {
		return storage.Identity{}, err
	}
	uid, err := n.link(ctx, cr, up.Subject, id, up.EmailNotLinkable, tr.step("link"))
	if err != nil {
		return storage.Identity{}, err
	}
	id.Subject = uid
	return id, nil
}

// mapIdentity runs the Map step. It returns the identity (without Subject) and the mapped
// groups before filtering (the names connector requirements are written in).
func (n *Normalizer) mapIdentity(ctx context.Context, cr *connectorRules, up connectors.Upstream, tr *Trace) (storage.Identity, []string, error) {
	st := tr.step("map")
	id := storage.Identity{
		Email:             up.Email,
		EmailVerified:     up.EmailVerified,
		Name:              up.Name,
		PreferredUsername: up.Username,
		Groups:            slices.Clone(up.Groups),
	}
	if id.Name == "" {
		id.Name = id.PreferredUsername
	}
	st.notef("defaults from the connector: email=%q email_verified=%v name=%q preferred_username=%q groups=%q",
		id.Email, id.EmailVerified, id.Name, id.PreferredUsername, id.Groups)
	if len(cr.maps) > 0 {
		vars := upstreamActivation(up)
		emailMapped, verifiedMapped := false, false
		for _, e := range cr.maps {
			v, err := e.eval(ctx, vars)
			switch {
			case errors.Is(err, errAbsent):
				st.notef("%s: %s → no value; the claim is left out", e.claim, e.source)
			case err != nil && isLimitError(err):
				return storage.Identity{}, nil, fmt.Errorf("claims: connector %s: claims.map.%s: %w", cr.id, e.claim, err)
			case err != nil:
				n.logger().WarnContext(ctx, "claim expression failed; the claim is left out", "connector", cr.id, "claim", e.claim, "err", err,
					"missing_attributes", missingAttrs(e, up.Attrs))
				st.notef("%s: %s → error (%v); the claim is left out", e.claim, e.source, err)
			default:
				st.notef("%s: %s → %s", e.claim, e.source, show(v))
			}
			if st != nil { // the hints are for a trace only: not built on every login
				for _, h := range missingAttrHints(e, up.Attrs) {
					st.notef("%s", h)
				}
			}
			if err != nil {
				v = nil
			}
			switch e.claim {
			case "email":
				emailMapped = true
				id.Email, _ = v.(string)
			case "email_verified":
				verifiedMapped = true
				id.EmailVerified, _ = v.(bool)
			case "name":
				id.Name, _ = v.(string)
			case "preferred_username":
				id.PreferredUsername, _ = v.(string)
			case "groups":
				id.Groups, _ = v.([]string)
			default:
				if v == nil {
					continue
				}
				if id.Extra == nil {
					id.Extra = map[string]any{}
				}
				id.Extra[e.claim] = v
			}
		}
		// A mapped email keeps the upstream's verification only if it is the address the
		// upstream verified; otherwise it is unverified unless email_verified is mapped too.
		if emailMapped && !verifiedMapped && !strings.EqualFold(id.Email, up.Email) && id.EmailVerified {
			id.EmailVerified = false
			st.notef("email_verified: false (the mapped email is not the one the upstream verified; map email_verified to decide)")
		}
	}
	if id.Email == "" && id.EmailVerified {
		id.EmailVerified = false
	}
	return id, id.Groups, nil
}

func isCostError(err error) bool {
	return strings.Contains(err.Error(), "cost limit exceeded")
}

func (n *Normalizer) logger() *slog.Logger {
	if n.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return n.Logger
}

func (n *Normalizer) now() time.Time {
	if n.Now == nil {
		return time.Now().UTC()
	}
	return n.Now().UTC()
}

// upstreamActivation is the variables of a map expression.
func upstreamActivation(up connectors.Upstream) map[string]any {
	attrs := up.Attrs
	if attrs == nil {
		attrs = map[string][]string{}
	}
	return map[string]any{
		"subject":        up.Subject,
		"username":       up.Username,
		"email":          up.Email,
		"email_verified": up.EmailVerified,
		"name":           up.Name,
		"groups":         nonNil(up.Groups),
		"attrs":          attrs,
		"acr":            up.ACR,
		"amr":            nonNil(up.AMR),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// NewUserID returns a fresh internal user ID: 128 random bits, hex.
func NewUserID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("claims: random: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
