package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/gatehouse-id/gatehouse/internal/tracing"
)

// BackChannelLogoutEvent is the event a logout token carries (Back-Channel Logout 1.0, 2.4).
const BackChannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutToken is what SignLogoutToken puts in a Back-Channel Logout 1.0 logout token.
type LogoutToken struct {
	// ID is the jti, unique per token.
	ID string
	// Audience is the client the token is for.
	Audience string
	// Subject (the sub the client saw) and SessionID (the sid of its ID tokens); at least one.
	Subject, SessionID string
	Expiry             time.Time
}

// logoutClaims is a logout token's payload. It has no nonce (Back-Channel Logout 1.0, 2.4).
type logoutClaims struct {
	Iss    string                    `json:"iss"`
	Sub    string                    `json:"sub,omitempty"`
	Aud    string                    `json:"aud"`
	Iat    int64                     `json:"iat"`
	Exp    int64                     `json:"exp"`
	Jti    string                    `json:"jti"`
	Sid    string                    `json:"sid,omitempty"`
	Events map[string]map[string]any `json:"events"`
}

// SignLogoutToken signs a logout token with the ID-token key (header typ "logout+jwt"; claims
// iss, aud, iat, exp, jti, events with the back-channel logout event, sub and/or sid; never a
// nonce).
func (m *Minter) SignLogoutToken(ctx context.Context, t LogoutToken) (string, error) {
	if t.ID == "" || t.Audience == "" || (t.Subject == "" && t.SessionID == "") {
		return "", errors.New("tokens: logout token needs an ID, an audience and a subject or session ID")
	}
	now := m.now()
	key, err := m.signerAt(now, t.Expiry)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(logoutClaims{
		Iss: m.Issuer, Sub: t.Subject, Aud: t.Audience, Iat: now.Unix(), Exp: t.Expiry.Unix(), Jti: t.ID, Sid: t.SessionID,
		Events: map[string]map[string]any{BackChannelLogoutEvent: {}},
	})
	if err != nil {
		return "", fmt.Errorf("tokens: marshal logout token: %w", err)
	}
	defer tracing.Span(ctx, "tokens.sign", attribute.String("gatehouse.token", "logout_token"))()
	return sign(key.logoutSigner, payload)
}
