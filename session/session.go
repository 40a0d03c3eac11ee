// Package session owns Gatehouse's browser state: the SSO session (a server-side record keyed
// by the SHA-256 of a random value held in a cookie, with idle and absolute expiry) and the
// flow cookie that binds an authorization request in flight to the browser that started it.
// It also derives the per-flow CSRF tokens that every form carries.
package session

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Manager creates, finds and ends SSO sessions and manages the flow cookie.
type Manager struct {
	Store storage.SessionStore
	// Secure marks cookies Secure (issuer is https). With Secure, every cookie uses the
	// __Host- prefix and Path=/, whatever the issuer's path: a cookie without the prefix can
	// be planted by a sibling subdomain (login CSRF through the flow cookie).
	Secure bool
	// Path scopes the cookies of a plain-http issuer (its path, "/" by default).
	Path     string
	Idle     time.Duration
	Absolute time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	// ended counts the sessions this process ended (Ended).
	ended atomic.Uint64
}

// Ended is a generation that grows whenever this process ends an SSO session (End, the
// previous session of Establish, NoteEnded). A cache of sessions read at generation g may
// answer only while Ended() is still g: a logout on this replica then reaches it at once.
func (m *Manager) Ended() uint64 { return m.ended.Load() }

// NoteEnded records that this process deleted an SSO session without the Manager (a SAML
// LogoutRequest naming it): caches of sessions drop what they hold (Ended).
func (m *Manager) NoteEnded() { m.ended.Add(1) }

func (m *Manager) now() time.Time {
	if m.Now == nil {
		return time.Now()
	}
	return m.Now()
}

// Cookie names.
const (
	ssoCookie       = "gh_sso"
	secureSSOCookie = "__Host-gh_sso"
	flowCookie      = "gh_flow"
	secureFlow      = "__Host-gh_flow"
)

func (m *Manager) ssoName() string {
	if m.Secure {
		return secureSSOCookie
	}
	return ssoCookie
}

func (m *Manager) flowName() string {
	if m.Secure {
		return secureFlow
	}
	return flowCookie
}

// path is the cookies' Path: "/" on https (the __Host- prefix requires it), the issuer's path
// on plain http.
func (m *Manager) path() string {
	if m.Secure || m.Path == "" {
		return "/"
	}
	return m.Path
}

// HashID returns the storage key for a cookie value: hex SHA-256.
func HashID(v string) string {
	h := sha256.Sum256([]byte(v))
	return hex.EncodeToString(h[:])
}

// RandomToken returns a 256-bit random value, base64url without padding.
func RandomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Current returns the valid SSO session of the request, if any. A session past its idle or
// absolute expiry is not valid (and the caller may start a new one).
func (m *Manager) Current(ctx context.Context, r *http.Request) (storage.Session, bool, error) {
	c, err := r.Cookie(m.ssoName())
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return storage.Session{}, false, nil
	}
	return m.Live(ctx, HashID(c.Value))
}

// Live returns the SSO session with the given ID (storage key) if it still exists and is
// within its idle and absolute expiry. A flow that was authenticated in a session calls it
// before issuing anything, so a logout or an expired session ends the flows it started.
func (m *Manager) Live(ctx context.Context, id string) (storage.Session, bool, error) {
	if id == "" {
		return storage.Session{}, false, nil
	}
	s, err := m.Store.GetSession(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Session{}, false, nil
	}
	if err != nil {
		return storage.Session{}, false, fmt.Errorf("session: %w", err)
	}
	now := m.now()
	if !now.Before(s.IdleExpiry) || !now.Before(s.AbsoluteExpiry) {
		return storage.Session{}, false, nil
	}
	return s, true, nil
}

// Touch extends the session's idle expiry after use; it writes at most once a minute.
func (m *Manager) Touch(ctx context.Context, s storage.Session) error {
	now := m.now()
	if now.Sub(s.LastUsed) < time.Minute {
		return nil
	}
	idle := now.Add(m.Idle)
	if idle.After(s.AbsoluteExpiry) {
		idle = s.AbsoluteExpiry
	}
	if err := m.Store.TouchSession(ctx, s.ID, now, idle); err != nil {
		return fmt.Errorf("session: touch: %w", err)
	}
	return nil
}

// Establish starts a new SSO session for the identity (rotating the cookie value on every
// authentication, so a fixated value is never upgraded), ending the previous one if the
// request carried one. It also rotates the flow cookie: a flow value that someone else knew
// or planted is worth nothing once a login completed. The request carries the new flow
// secret afterwards (FlowSecret), so the caller can rebind the auth request it finishes;
// other flows of the browser in progress end. The session's Auth.Device names the browser
// (Device of its User-Agent; the header itself is not kept).
func (m *Manager) Establish(ctx context.Context, w http.ResponseWriter, r *http.Request, id storage.Identity, auth storage.Authentication) (storage.Session, error) {
	if old, err := r.Cookie(m.ssoName()); err == nil && old.Value != "" && len(old.Value) <= 128 {
		err := m.Store.DeleteSession(ctx, HashID(old.Value))
		m.NoteEnded() // also on a failure: it may have been deleted
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return storage.Session{}, fmt.Errorf("session: end previous: %w", err)
		}
	}
	v, err := RandomToken()
	if err != nil {
		return storage.Session{}, err
	}
	now := m.now()
	if d := Device(r.UserAgent()); d != "" {
		auth.Device = d
	}
	s := storage.Session{
		ID:             HashID(v),
		Identity:       id,
		Auth:           auth,
		CreatedAt:      now,
		LastUsed:       now,
		IdleExpiry:     now.Add(m.Idle),
		AbsoluteExpiry: now.Add(m.Absolute),
	}
	if s.IdleExpiry.After(s.AbsoluteExpiry) {
		s.IdleExpiry = s.AbsoluteExpiry
	}
	if err := m.Store.CreateSession(ctx, s); err != nil {
		return storage.Session{}, fmt.Errorf("session: create: %w", err)
	}
	if _, err := m.newFlow(w, r); err != nil {
		return storage.Session{}, err
	}
	http.SetCookie(w, &http.Cookie{
		Name: m.ssoName(), Value: v, Path: m.path(), HttpOnly: true, Secure: m.Secure,
		SameSite: http.SameSiteLaxMode, Expires: s.AbsoluteExpiry,
	})
	return s, nil
}

// End deletes the request's SSO session (if any) and clears the cookie.
func (m *Manager) End(ctx context.Context, w http.ResponseWriter, r *http.Request) (storage.Session, bool, error) {
	http.SetCookie(w, &http.Cookie{Name: m.ssoName(), Value: "", Path: m.path(), HttpOnly: true, Secure: m.Secure, MaxAge: -1, SameSite: http.SameSiteLaxMode})
	c, err := r.Cookie(m.ssoName())
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return storage.Session{}, false, nil
	}
	id := HashID(c.Value)
	s, err := m.Store.GetSession(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Session{}, false, nil
	}
	if err != nil {
		return storage.Session{}, false, fmt.Errorf("session: %w", err)
	}
	err = m.Store.DeleteSession(ctx, id)
	m.NoteEnded() // also on a failure: it may have been deleted
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return storage.Session{}, false, fmt.Errorf("session: delete: %w", err)
	}
	return s, true, nil
}

// Flow returns the browser's flow secret, setting the flow cookie when it is missing. The
// secret is the same for every flow of the browser; requests store its hash (FlowHash).
func (m *Manager) Flow(w http.ResponseWriter, r *http.Request) (string, error) {
	if c, err := r.Cookie(m.flowName()); err == nil && len(c.Value) == 43 {
		return c.Value, nil
	}
	return m.newFlow(w, r)
}

// newFlow sets a new flow cookie and makes the request carry it instead of any earlier one.
func (m *Manager) newFlow(w http.ResponseWriter, r *http.Request) (string, error) {
	v, err := RandomToken()
	if err != nil {
		return "", err
	}
	// SameSite=None lets cross-site POST callbacks (SAML ACS, form_post) carry it; that needs
	// Secure, so plain-http (loopback) deployments fall back to Lax.
	ss := http.SameSiteLaxMode
	if m.Secure {
		ss = http.SameSiteNoneMode
	}
	http.SetCookie(w, &http.Cookie{Name: m.flowName(), Value: v, Path: m.path(), HttpOnly: true, Secure: m.Secure, SameSite: ss})
	replaceCookie(r, &http.Cookie{Name: m.flowName(), Value: v})
	return v, nil
}

// replaceCookie makes r carry c instead of any cookie of the same name.
func replaceCookie(r *http.Request, c *http.Cookie) {
	old := r.Cookies()
	r.Header.Del("Cookie")
	for _, o := range old {
		if o.Name != c.Name {
			r.AddCookie(o)
		}
	}
	r.AddCookie(c)
}

// FlowSecret returns the browser's flow secret without setting it ("" when absent).
func (m *Manager) FlowSecret(r *http.Request) string {
	if c, err := r.Cookie(m.flowName()); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	return ""
}

// CSRFToken derives the CSRF token of a form bound to the flow secret and a purpose (e.g. the
// auth request ID). Only the browser holding the flow cookie can produce it.
func CSRFToken(flowSecret, purpose string) string {
	mac := hmac.New(sha256.New, []byte(flowSecret))
	mac.Write([]byte("gatehouse-csrf\x00" + purpose))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// CheckCSRF verifies a submitted CSRF token in constant time.
func CheckCSRF(flowSecret, purpose, token string) bool {
	if flowSecret == "" || token == "" {
		return false
	}
	want := CSRFToken(flowSecret, purpose)
	return subtle.ConstantTimeCompare([]byte(want), []byte(token)) == 1
}
