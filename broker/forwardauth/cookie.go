package forwardauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

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
		sess, ok, err := h.liveSession(ctx, sid)
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

// liveSession returns the live SSO session sid: from the cache when it was read less than
// Settings.SessionRecheck ago, no session has ended in this process since (Sessions.Ended)
// and it has not expired since, else from storage.
func (h *Handler) liveSession(ctx context.Context, sid string) (storage.Session, bool, error) {
	recheck := h.Settings.SessionRecheck
	if recheck <= 0 {
		return h.Sessions.Live(ctx, sid)
	}
	now := h.Now()
	gen := h.Sessions.Ended() // before the read: a logout after it invalidates what is read
	if s, ok := h.sessions.get(sid, now, recheck, gen); ok {
		return s, true, nil
	}
	s, ok, err := h.Sessions.Live(ctx, sid)
	if err == nil && ok {
		h.sessions.put(s, now, gen)
	}
	return s, ok, err
}

// touch extends the session's idle expiry: a user working in a protected app is using the
// session (session.Manager writes at most once a minute). A failure is logged: the check
// answers anyway, and the next one tries again.
func (h *Handler) touch(ctx context.Context, s storage.Session) {
	now := h.Now()
	if now.Sub(s.LastUsed) < time.Minute {
		return
	}
	if err := h.Sessions.Touch(ctx, s); err != nil {
		h.Logger.WarnContext(ctx, "forward-auth: extend the session's idle expiry", "err", err)
		return
	}
	s.LastUsed = now
	h.sessions.refresh(s)
}

// sessionCache keeps recently read sessions when Settings.SessionRecheck is set.
type sessionCache struct {
	mu sync.Mutex
	m  map[string]cachedSession
}

type cachedSession struct {
	s    storage.Session
	read time.Time
	// gen is Sessions.Ended() before the session was read.
	gen uint64
}

// get returns the session read less than recheck ago, at generation gen (no session ended
// in this process since), and still within its expiries at now.
func (c *sessionCache) get(sid string, now time.Time, recheck time.Duration, gen uint64) (storage.Session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[sid]
	if !ok || e.gen != gen || now.Sub(e.read) >= recheck || now.Before(e.read) ||
		!now.Before(e.s.IdleExpiry) || !now.Before(e.s.AbsoluteExpiry) {
		return storage.Session{}, false
	}
	return e.s, true
}

func (c *sessionCache) put(s storage.Session, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedRecords {
		c.m = map[string]cachedSession{}
	}
	c.m[s.ID] = cachedSession{s: s, read: now, gen: gen}
}

// refresh replaces a cached session's record (after a touch), keeping when it was read.
func (c *sessionCache) refresh(s storage.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[s.ID]; ok {
		e.s = s
		c.m[s.ID] = e
	}
}
