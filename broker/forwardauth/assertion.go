package forwardauth

import (
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// maxCachedAssertions bounds the assertion cache; when full it is emptied.
const maxCachedAssertions = 10000

// assertionCache keeps signed assertions per (SSO session, app): signing on every request of
// every protected app would cost a signature each.
type assertionCache struct {
	mu  sync.Mutex
	max int
	m   map[string]cachedAssertion
}

type cachedAssertion struct {
	token  string
	expiry time.Time
}

func newAssertionCache(limit int) *assertionCache {
	return &assertionCache{max: limit, m: map[string]cachedAssertion{}}
}

// assertion returns a signed JWT for the app (aud = app ID, typ JWT, signed with the
// issuer's keys and verifiable with its JWKS): iss, sub, aud, exp, iat, auth_time, amr, acr,
// sid and email, email_verified, name, preferred_username, groups. A cached one is reused
// until a fifth of its lifetime is left.
func (h *Handler) assertion(app *App, sess storage.Session) (string, error) {
	now := h.Now()
	life := h.Settings.AssertionLifetime
	key := sess.ID + "\x00" + app.ID
	h.assertions.mu.Lock()
	c, ok := h.assertions.m[key]
	h.assertions.mu.Unlock()
	if ok && c.expiry.Sub(now) > life/5 {
		return c.token, nil
	}
	exp := now.Add(life)
	if exp.After(sess.AbsoluteExpiry) {
		exp = sess.AbsoluteExpiry
	}
	id := sess.Identity
	claims := map[string]any{"email": id.Email, "email_verified": id.EmailVerified, "groups": id.Groups,
		"preferred_username": id.PreferredUsername, "name": id.Name}
	tok, err := h.Signer.SignIDToken(tokens.IDToken{
		Subject: id.Subject, Audience: app.ID, Expiry: exp, AuthTime: sess.Auth.AuthTime, AMR: sess.Auth.AMR,
		ACR: sess.Auth.ACR, SessionID: sess.ID, Claims: claims,
	})
	if err != nil {
		return "", err
	}
	h.assertions.mu.Lock()
	if len(h.assertions.m) >= h.assertions.max {
		clear(h.assertions.m)
	}
	h.assertions.m[key] = cachedAssertion{token: tok, expiry: exp}
	h.assertions.mu.Unlock()
	return tok, nil
}
