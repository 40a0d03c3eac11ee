package forwardauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// blobPrefix prefixes the storage key of a forward-auth cookie's record (the SHA-256 of the
// cookie value follows).
const blobPrefix = "forward-auth:"

// record is what a forward-auth cookie names: the SSO session it is bound to.
type record struct {
	SessionID string `json:"sid"`
}

// issue creates a forward-auth cookie for the SSO session and its record in storage, which
// expires with the session.
func (h *Handler) issue(ctx context.Context, w http.ResponseWriter, sess storage.Session) error {
	token, err := session.RandomToken()
	if err != nil {
		return err
	}
	val, err := json.Marshal(record{SessionID: sess.ID})
	if err != nil {
		return fmt.Errorf("forwardauth: %w", err)
	}
	if err := h.Blobs.PutBlob(ctx, storage.Blob{Key: blobPrefix + session.HashID(token), Value: val, Expiry: sess.AbsoluteExpiry}); err != nil {
		return fmt.Errorf("forwardauth: store cookie: %w", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: h.Settings.CookieName, Value: token, Domain: h.Settings.CookieDomain, Path: "/",
		Secure: h.Settings.Secure, HttpOnly: true, SameSite: http.SameSiteLaxMode, Expires: sess.AbsoluteExpiry,
	})
	return nil
}

// lookup returns the live SSO session the request's forward-auth cookie is bound to. Every
// cookie of that name is tried (a stale one for a parent domain may come first).
func (h *Handler) lookup(r *http.Request) (storage.Session, bool, error) {
	ctx := r.Context()
	for _, c := range r.CookiesNamed(h.Settings.CookieName) {
		if c.Value == "" || len(c.Value) > 128 {
			continue
		}
		val, err := h.Blobs.GetBlob(ctx, blobPrefix+session.HashID(c.Value), h.Now())
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return storage.Session{}, false, fmt.Errorf("forwardauth: read cookie record: %w", err)
		}
		var rec record
		if err := json.Unmarshal(val, &rec); err != nil {
			return storage.Session{}, false, fmt.Errorf("forwardauth: cookie record: %w", err)
		}
		sess, ok, err := h.Sessions.Live(ctx, rec.SessionID)
		if err != nil || ok {
			return sess, ok, err
		}
	}
	return storage.Session{}, false, nil
}
