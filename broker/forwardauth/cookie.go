package forwardauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

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
		key := blobPrefix + session.HashID(c.Value)
		sid, cached := h.records.get(key)
		if !cached {
			val, err := h.Blobs.GetBlob(ctx, key, h.Now())
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
			sid = rec.SessionID
			h.records.put(key, sid)
		}
		sess, ok, err := h.Sessions.Live(ctx, sid)
		if err != nil || ok {
			return sess, ok, err
		}
	}
	return storage.Session{}, false, nil
}

// maxCachedRecords bounds the cache of cookie records; when full it is emptied.
const maxCachedRecords = 10000

// recordCache maps the hash of a forward-auth cookie to the SSO session its record names. A
// record never changes once written (it is only deleted when it expires, with its session),
// so the mapping may be kept; the session itself is read on every check, so a logout or an
// expired session ends the cookie at once.
type recordCache struct {
	mu sync.Mutex
	m  map[string]string
}

func (c *recordCache) get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sid, ok := c.m[key]
	return sid, ok
}

func (c *recordCache) put(key, sid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedRecords {
		c.m = map[string]string{}
	}
	c.m[key] = sid
}
