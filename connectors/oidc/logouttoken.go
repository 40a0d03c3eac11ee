package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/oauthflow"
)

var _ connectors.LogoutTokenVerifier = (*Connector)(nil)

// backchannelLogoutEvent is the events member a logout token must carry.
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// maxLogoutToken bounds the logout token read from the upstream's POST.
const maxLogoutToken = 16 << 10

// logoutTokenAlgs are the signature algorithms accepted for the header check (go-oidc then
// checks the signature against the upstream's JWKS with the algorithms it advertises).
var logoutTokenAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// VerifyLogoutToken checks an upstream's back-channel logout token (OpenID Connect
// Back-Channel Logout 1.0 2.6): signed by the upstream (go-oidc against its JWKS: signature,
// iss, aud = this connector's client_id, exp), typ logout+jwt when the header has a typ,
// iat and jti present, an events claim with the back-channel logout event (a JSON object),
// sub or sid present, and no nonce (so that an ID token cannot pass for one).
func (c *Connector) VerifyLogoutToken(ctx context.Context, raw string) (connectors.LogoutToken, error) {
	if len(raw) > maxLogoutToken {
		return connectors.LogoutToken{}, errors.New("oidc: logout token too large")
	}
	jws, err := jose.ParseSignedCompact(raw, logoutTokenAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return connectors.LogoutToken{}, fmt.Errorf("oidc: logout token: not a signed JWT: %w", err)
	}
	if typ, ok := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType]; ok && typ != "logout+jwt" {
		return connectors.LogoutToken{}, fmt.Errorf("oidc: logout token: typ %v, want logout+jwt", typ)
	}
	up, err := c.provider(ctx)
	if err != nil {
		return connectors.LogoutToken{}, err
	}
	tok, err := up.verifier.Verify(ctx, raw)
	if err != nil {
		return connectors.LogoutToken{}, fmt.Errorf("oidc: verify logout token: %w", err)
	}
	var cl struct {
		Sub    string                     `json:"sub"`
		SID    string                     `json:"sid"`
		JTI    string                     `json:"jti"`
		IAT    *json.Number               `json:"iat"`
		Nonce  *json.RawMessage           `json:"nonce"`
		Events map[string]json.RawMessage `json:"events"`
	}
	if err := tok.Claims(&cl); err != nil {
		return connectors.LogoutToken{}, fmt.Errorf("oidc: logout token claims: %w", err)
	}
	if c.opts.CheckIssuer != nil { // multi-tenant upstreams: the issuer is checked per tenant
		var rawClaims json.RawMessage
		if err := tok.Claims(&rawClaims); err != nil {
			return connectors.LogoutToken{}, fmt.Errorf("oidc: logout token claims: %w", err)
		}
		claims, err := oauthflow.DecodeClaims(rawClaims)
		if err != nil {
			return connectors.LogoutToken{}, err
		}
		if err := c.opts.CheckIssuer(tok.Issuer, claims); err != nil {
			return connectors.LogoutToken{}, err
		}
	}
	iat, iatErr := int64(0), error(nil)
	if cl.IAT != nil {
		iat, iatErr = cl.IAT.Int64()
	}
	ev, hasEvent := cl.Events[backchannelLogoutEvent]
	var evObj map[string]json.RawMessage
	switch {
	case cl.Nonce != nil:
		return connectors.LogoutToken{}, errors.New("oidc: logout token: it has a nonce")
	case !hasEvent || json.Unmarshal(ev, &evObj) != nil || evObj == nil:
		return connectors.LogoutToken{}, errors.New("oidc: logout token: no back-channel logout event")
	case cl.Sub == "" && cl.SID == "":
		return connectors.LogoutToken{}, errors.New("oidc: logout token: neither sub nor sid")
	case cl.JTI == "":
		return connectors.LogoutToken{}, errors.New("oidc: logout token: no jti")
	case cl.IAT == nil || iatErr != nil || iat <= 0:
		return connectors.LogoutToken{}, errors.New("oidc: logout token: no valid iat")
	}
	return connectors.LogoutToken{Subject: cl.Sub, SessionID: cl.SID, JTI: cl.JTI, IssuedAt: time.Unix(iat, 0).UTC(),
		Expiry: tok.Expiry.UTC()}, nil
}
