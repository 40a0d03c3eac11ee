package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/oauthflow"
)

var _ connectors.IDTokenVerifier = (*Connector)(nil)

// VerifyIDToken verifies an ID token the upstream issued to this connector's client_id
// (go-oidc: signature against the upstream's JWKS, issuer, audience, expiry) and maps its
// claims as a login would, without userinfo and without a stash (there is nothing to refresh).
// A connector with an Enrich hook (a provider-specific type built on this one) needs the
// upstream's access token and refuses.
func (c *Connector) VerifyIDToken(ctx context.Context, raw string) (connectors.Upstream, error) {
	if c.opts.Enrich != nil {
		return connectors.Upstream{}, errors.New("oidc: this connector enriches logins with API calls and cannot verify an ID token alone")
	}
	up, err := c.provider(ctx)
	if err != nil {
		return connectors.Upstream{}, err
	}
	idt, err := up.verifier.Verify(ctx, raw)
	if err != nil {
		return connectors.Upstream{}, fmt.Errorf("verify upstream ID token: %w", err)
	}
	var rawClaims json.RawMessage
	if err := idt.Claims(&rawClaims); err != nil {
		return connectors.Upstream{}, fmt.Errorf("upstream ID token claims: %w", err)
	}
	claims, err := oauthflow.DecodeClaims(rawClaims)
	if err != nil {
		return connectors.Upstream{}, err
	}
	if c.opts.CheckIssuer != nil {
		if err := c.opts.CheckIssuer(idt.Issuer, claims); err != nil {
			return connectors.Upstream{}, err
		}
	}
	u, err := c.identity(ctx, connectors.Scopes{}, &oauth2.Token{}, claims, grantStash{})
	u.Stash = nil
	return u, err
}
