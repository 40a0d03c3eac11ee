package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// memStore is an in-memory storage.SessionStore.
type memStore struct {
	mu      sync.Mutex
	m       map[string]storage.Session
	getErr  error
	deletes []string
}

func newMemStore() *memStore { return &memStore{m: map[string]storage.Session{}} }

func (s *memStore) CreateSession(_ context.Context, x storage.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[x.ID]; ok {
		return storage.ErrAlreadyExists
	}
	s.m[x.ID] = x
	return nil
}

func (s *memStore) GetSession(_ context.Context, id string) (storage.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.getErr != nil {
		return storage.Session{}, s.getErr
	}
	x, ok := s.m[id]
	if !ok {
		return storage.Session{}, fmt.Errorf("session %s: %w", id, storage.ErrNotFound)
	}
	return x, nil
}

func (s *memStore) TouchSession(_ context.Context, id string, lastUsed, idleExpiry time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.m[id]
	if !ok {
		return storage.ErrNotFound
	}
	x.LastUsed = lastUsed
	x.IdleExpiry = idleExpiry
	if x.IdleExpiry.After(x.AbsoluteExpiry) {
		x.IdleExpiry = x.AbsoluteExpiry
	}
	s.m[id] = x
	return nil
}

func (s *memStore) DeleteSession(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deletes = append(s.deletes, id)
	if _, ok := s.m[id]; !ok {
		return storage.ErrNotFound
	}
	delete(s.m, id)
	return nil
}

func (s *memStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

var _ storage.SessionStore = (*memStore)(nil)

// clock is a pinned, settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newManager(secure bool, path string) (*Manager, *memStore, *clock) {
	st := newMemStore()
	c := &clock{t: t0}
	return &Manager{Store: st, Secure: secure, Path: path, Idle: time.Hour, Absolute: 8 * time.Hour, Now: c.Now}, st, c
}

func ident() storage.Identity { return storage.Identity{Subject: "u1", Email: "ann@example.com"} }
func auth() storage.Authentication {
	return storage.Authentication{ConnectorID: "local", AuthTime: t0, AMR: []string{"pwd"}}
}

// cookieNamed returns the Set-Cookie of the response with the name.
func cookieNamed(t *testing.T, w *httptest.ResponseRecorder, name string) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie in %q", name, w.Header().Values("Set-Cookie"))
	return nil
}

// establish runs Establish on a fresh request (carrying cookies) and returns the new cookie.
func establish(t *testing.T, m *Manager, cookies ...*http.Cookie) (storage.Session, *http.Cookie) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/login", nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	s, err := m.Establish(context.Background(), w, r, ident(), auth())
	if err != nil {
		t.Fatalf("Establish: %v", err)
	}
	return s, cookieNamed(t, w, m.ssoName())
}

func current(t *testing.T, m *Manager, c *http.Cookie) (storage.Session, bool) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/authorize", nil)
	if c != nil {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	s, ok, err := m.Current(context.Background(), r)
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	return s, ok
}

func TestEstablishCookie(t *testing.T) {
	tests := []struct {
		name     string
		secure   bool
		path     string
		wantName string
		wantPath string
	}{
		{"secure root gets __Host-", true, "/", "__Host-gh_sso", "/"},
		{"secure default path gets __Host-", true, "", "__Host-gh_sso", "/"},
		// Issue 25.3: an https issuer with a path gets __Host- and Path=/ too.
		{"secure sub-path gets __Host- and Path=/", true, "/auth/", "__Host-gh_sso", "/"},
		{"plain http sub-path keeps its path", false, "/auth/", "gh_sso", "/auth/"},
		{"plain http has no prefix", false, "/", "gh_sso", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, st, _ := newManager(tt.secure, tt.path)
			s, c := establish(t, m)
			if c.Name != tt.wantName {
				t.Errorf("cookie name = %q, want %q", c.Name, tt.wantName)
			}
			if c.Path != tt.wantPath || !c.HttpOnly || c.Secure != tt.secure || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("cookie = %+v", c)
			}
			if c.Domain != "" {
				t.Errorf("cookie has a Domain: %q", c.Domain)
			}
			if !c.Expires.Equal(t0.Add(8 * time.Hour).Truncate(time.Second)) {
				t.Errorf("Expires = %v", c.Expires)
			}
			if len(c.Value) != 43 {
				t.Errorf("cookie value %q is not 256 bits base64url", c.Value)
			}
			if s.ID != HashID(c.Value) || s.ID == c.Value {
				t.Errorf("session ID %q is not the hash of the cookie value", s.ID)
			}
			if _, err := st.GetSession(context.Background(), HashID(c.Value)); err != nil {
				t.Errorf("session not stored: %v", err)
			}
			if s.Identity.Subject != "u1" || s.Auth.ConnectorID != "local" || !s.CreatedAt.Equal(t0) ||
				!s.IdleExpiry.Equal(t0.Add(time.Hour)) || !s.AbsoluteExpiry.Equal(t0.Add(8*time.Hour)) {
				t.Errorf("session = %+v", s)
			}
			got, ok := current(t, m, c)
			if !ok || got.ID != s.ID {
				t.Errorf("Current() = %v, %v", got.ID, ok)
			}
		})
	}
}

func TestCurrentWithoutSession(t *testing.T) {
	m, st, _ := newManager(true, "/")
	tests := []struct {
		name   string
		cookie *http.Cookie
	}{
		{"no cookie", nil},
		{"empty cookie", &http.Cookie{Name: "__Host-gh_sso", Value: ""}},
		{"unknown value", &http.Cookie{Name: "__Host-gh_sso", Value: "nope"}},
		{"oversized value", &http.Cookie{Name: "__Host-gh_sso", Value: strings.Repeat("a", 129)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := current(t, m, tt.cookie); ok {
				t.Errorf("Current() found a session")
			}
		})
	}
	t.Run("cookie under the insecure name is ignored", func(t *testing.T) {
		insecure, _, _ := newManager(false, "/")
		insecure.Store = st
		_, c := establish(t, insecure)
		if _, ok := current(t, m, c); ok {
			t.Errorf("secure manager accepted a gh_sso cookie")
		}
	})
	t.Run("store error", func(t *testing.T) {
		m2, st2, _ := newManager(false, "/")
		_, c := establish(t, m2)
		boom := errors.New("db down")
		st2.getErr = boom
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(c)
		if _, ok, err := m2.Current(context.Background(), r); ok || !errors.Is(err, boom) {
			t.Errorf("Current() = %v, %v; want the store error", ok, err)
		}
	})
}

func TestExpiry(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		m, _, clk := newManager(false, "/")
		_, c := establish(t, m)
		clk.Add(time.Hour - time.Second)
		if _, ok := current(t, m, c); !ok {
			t.Fatal("session gone before its idle expiry")
		}
		clk.Add(time.Second)
		if _, ok := current(t, m, c); ok {
			t.Fatal("session alive at its idle expiry")
		}
	})
	t.Run("touch extends idle up to absolute", func(t *testing.T) {
		m, _, clk := newManager(false, "/")
		_, c := establish(t, m)
		for i := 0; i < 10; i++ { // 10 x 50 min: past the 8h absolute expiry
			clk.Add(50 * time.Minute)
			s, ok := current(t, m, c)
			if clk.Now().Before(t0.Add(8 * time.Hour)) {
				if !ok {
					t.Fatalf("step %d: session gone while used within its idle window", i)
				}
				if err := m.Touch(context.Background(), s); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if ok {
				t.Fatalf("step %d: session alive past its absolute expiry (now %v)", i, clk.Now())
			}
		}
	})
	t.Run("touch writes at most once a minute", func(t *testing.T) {
		m, st, clk := newManager(false, "/")
		s, _ := establish(t, m)
		clk.Add(30 * time.Second)
		if err := m.Touch(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		got, _ := st.GetSession(context.Background(), s.ID)
		if !got.LastUsed.Equal(t0) {
			t.Errorf("Touch within a minute wrote LastUsed = %v", got.LastUsed)
		}
		clk.Add(time.Minute)
		if err := m.Touch(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		got, _ = st.GetSession(context.Background(), s.ID)
		if !got.LastUsed.Equal(clk.Now()) || !got.IdleExpiry.Equal(clk.Now().Add(time.Hour)) {
			t.Errorf("after Touch: %+v", got)
		}
	})
	t.Run("touch error wrapped", func(t *testing.T) {
		m, _, clk := newManager(false, "/")
		clk.Add(time.Hour)
		err := m.Touch(context.Background(), storage.Session{ID: "missing", LastUsed: t0, AbsoluteExpiry: t0.Add(time.Hour * 8)})
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Touch() = %v, want ErrNotFound", err)
		}
	})
	t.Run("idle clamped to absolute", func(t *testing.T) {
		m, _, clk := newManager(false, "/")
		m.Idle, m.Absolute = 2*time.Hour, time.Hour
		s, c := establish(t, m)
		if !s.IdleExpiry.Equal(s.AbsoluteExpiry) {
			t.Errorf("IdleExpiry %v beyond AbsoluteExpiry %v", s.IdleExpiry, s.AbsoluteExpiry)
		}
		clk.Add(time.Hour)
		if _, ok := current(t, m, c); ok {
			t.Errorf("session alive at its absolute expiry")
		}
	})
}

func TestEstablishRotates(t *testing.T) {
	m, st, _ := newManager(true, "/")
	s1, c1 := establish(t, m)
	// A fixated or previous value is never upgraded: a new value, the old record deleted.
	s2, c2 := establish(t, m, c1)
	if c2.Value == c1.Value || s2.ID == s1.ID {
		t.Fatalf("Establish reused the cookie value")
	}
	if _, err := st.GetSession(context.Background(), s1.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("old session still stored: %v", err)
	}
	if _, ok := current(t, m, c1); ok {
		t.Errorf("old cookie still valid")
	}
	if _, ok := current(t, m, c2); !ok {
		t.Errorf("new cookie not valid")
	}
	if st.len() != 1 {
		t.Errorf("store has %d sessions, want 1", st.len())
	}
	// An attacker-chosen value that matches nothing is simply replaced.
	_, c3 := establish(t, m, &http.Cookie{Name: "__Host-gh_sso", Value: "fixated"})
	if c3.Value == "fixated" {
		t.Errorf("fixated value kept")
	}
}

func TestEnd(t *testing.T) {
	m, st, _ := newManager(true, "/")
	s, c := establish(t, m)
	r := httptest.NewRequest(http.MethodGet, "/logout", nil)
	r.AddCookie(c)
	w := httptest.NewRecorder()
	got, ok, err := m.End(context.Background(), w, r)
	if err != nil || !ok || got.ID != s.ID {
		t.Fatalf("End() = %v, %v, %v", got.ID, ok, err)
	}
	cleared := cookieNamed(t, w, "__Host-gh_sso")
	if cleared.Value != "" || cleared.MaxAge >= 0 || cleared.Path != "/" || !cleared.Secure || !cleared.HttpOnly {
		t.Errorf("clearing cookie = %+v", cleared)
	}
	if st.len() != 0 {
		t.Errorf("session not deleted")
	}
	if _, ok := current(t, m, c); ok {
		t.Errorf("session still current after End")
	}

	// Without a session End still clears the cookie and reports none.
	w = httptest.NewRecorder()
	_, ok, err = m.End(context.Background(), w, httptest.NewRequest(http.MethodGet, "/logout", nil))
	if ok || err != nil {
		t.Errorf("End() without cookie = %v, %v", ok, err)
	}
	cookieNamed(t, w, "__Host-gh_sso")
}

func TestFlow(t *testing.T) {
	tests := []struct {
		name     string
		secure   bool
		path     string
		wantName string
		wantSS   http.SameSite
	}{
		{"secure", true, "/", "__Host-gh_flow", http.SameSiteNoneMode},
		// Attack (issue 25.3): with an issuer path the flow cookie had no __Host- prefix, so a
		// sibling subdomain could plant a value and sign the victim in as the attacker.
		{"secure sub-path", true, "/idp/", "__Host-gh_flow", http.SameSiteNoneMode},
		{"plain http", false, "/", "gh_flow", http.SameSiteLaxMode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _, _ := newManager(tt.secure, tt.path)
			r := httptest.NewRequest(http.MethodGet, "/authorize", nil)
			if got := m.FlowSecret(r); got != "" {
				t.Errorf("FlowSecret() on a new browser = %q", got)
			}
			w := httptest.NewRecorder()
			v, err := m.Flow(w, r)
			if err != nil {
				t.Fatal(err)
			}
			c := cookieNamed(t, w, tt.wantName)
			if c.Value != v || len(v) != 43 || !c.HttpOnly || c.Secure != tt.secure || c.SameSite != tt.wantSS {
				t.Errorf("flow cookie = %+v (value %q)", c, v)
			}
			// The same request now carries it.
			if got := m.FlowSecret(r); got != v {
				t.Errorf("FlowSecret() after Flow = %q, want %q", got, v)
			}
			// A later request with the cookie gets the same secret and no new cookie.
			r2 := httptest.NewRequest(http.MethodPost, "/login", nil)
			r2.AddCookie(&http.Cookie{Name: tt.wantName, Value: v})
			w2 := httptest.NewRecorder()
			v2, err := m.Flow(w2, r2)
			if err != nil || v2 != v {
				t.Errorf("Flow() with cookie = %q, %v; want %q", v2, err, v)
			}
			if len(w2.Result().Cookies()) != 0 {
				t.Errorf("Flow() set a cookie although one was present")
			}
			// A malformed value is replaced.
			r3 := httptest.NewRequest(http.MethodGet, "/", nil)
			r3.AddCookie(&http.Cookie{Name: tt.wantName, Value: "short"})
			if m.FlowSecret(r3) != "" {
				t.Errorf("FlowSecret accepted a malformed value")
			}
			v3, _ := m.Flow(httptest.NewRecorder(), r3)
			if v3 == "short" || len(v3) != 43 {
				t.Errorf("Flow() kept malformed value %q", v3)
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	secret, err := RandomToken()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := RandomToken()
	tok := CSRFToken(secret, "req-1")
	if tok == CSRFToken(secret, "req-2") || tok == CSRFToken(other, "req-1") {
		t.Fatal("CSRF token does not depend on both the secret and the purpose")
	}
	tests := []struct {
		name                 string
		secret, purpose, tok string
		want                 bool
	}{
		{"valid", secret, "req-1", tok, true},
		{"wrong purpose", secret, "req-2", tok, false},
		{"wrong flow secret", other, "req-1", tok, false},
		{"empty flow secret", "", "req-1", CSRFToken("", "req-1"), false},
		{"empty token", secret, "req-1", "", false},
		{"truncated token", secret, "req-1", tok[:len(tok)-1], false},
		{"extended token", secret, "req-1", tok + "A", false},
		{"case changed", secret, "req-1", strings.ToUpper(tok), tok == strings.ToUpper(tok)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckCSRF(tt.secret, tt.purpose, tt.tok); got != tt.want {
				t.Errorf("CheckCSRF() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHashIDAndRandomToken(t *testing.T) {
	if got := HashID("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashID = %s", got)
	}
	a, err1 := RandomToken()
	b, err2 := RandomToken()
	if err1 != nil || err2 != nil || a == b || len(a) != 43 {
		t.Errorf("RandomToken() = %q, %q", a, b)
	}
}

func TestNilClock(t *testing.T) {
	m := &Manager{Store: newMemStore(), Idle: time.Hour, Absolute: 2 * time.Hour}
	r := httptest.NewRequest(http.MethodPost, "/login", nil)
	w := httptest.NewRecorder()
	s, err := m.Establish(context.Background(), w, r, ident(), auth())
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(s.CreatedAt); d < 0 || d > time.Minute {
		t.Errorf("CreatedAt = %v with a nil clock", s.CreatedAt)
	}
}

// TestEveryCookieUnderIssuerPath checks every cookie the Manager sets (SSO session on
// establish and end, flow) for https issuers with and without a path.
// Attack (issue 25.3): with issuer https://id.example/auth the flow cookie was
// "gh_flow; Path=/auth/", which a sibling subdomain can plant (login CSRF).
func TestEveryCookieUnderIssuerPath(t *testing.T) {
	for _, path := range []string{"", "/", "/auth", "/auth/", "/a/b/"} {
		t.Run("path "+path, func(t *testing.T) {
			m, _, _ := newManager(true, path)
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/auth/authorize", nil)
			if _, err := m.Flow(w, r); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Establish(context.Background(), w, r, ident(), auth()); err != nil {
				t.Fatal(err)
			}
			r2 := httptest.NewRequest(http.MethodGet, "/auth/logout", nil)
			for _, c := range r.Cookies() {
				r2.AddCookie(c)
			}
			if _, _, err := m.End(context.Background(), w, r2); err != nil {
				t.Fatal(err)
			}
			set := (&http.Response{Header: w.Header()}).Cookies()
			if len(set) < 4 {
				t.Fatalf("want flow, SSO, rotated flow and cleared SSO cookies, got %q", w.Header().Values("Set-Cookie"))
			}
			for _, c := range set {
				if !strings.HasPrefix(c.Name, "__Host-") || c.Path != "/" || !c.Secure || c.Domain != "" || !c.HttpOnly {
					t.Errorf("cookie %s: Path=%q Secure=%v Domain=%q HttpOnly=%v; want __Host- prefix, Path=/, Secure, host-only, HttpOnly",
						c.Name, c.Path, c.Secure, c.Domain, c.HttpOnly)
				}
			}
		})
	}
}

// TestEstablishRotatesFlow: a completed login replaces the flow cookie, and the request
// carries the new value for the rest of its handling.
// Attack (issue 25.3): a flow value planted before the login stays valid after it.
func TestEstablishRotatesFlow(t *testing.T) {
	m, _, _ := newManager(true, "/")
	planted := strings.Repeat("p", 43)
	r := httptest.NewRequest(http.MethodPost, "/callback/corp", nil)
	r.AddCookie(&http.Cookie{Name: "other", Value: "kept"})
	r.AddCookie(&http.Cookie{Name: "__Host-gh_flow", Value: planted})
	w := httptest.NewRecorder()
	if _, err := m.Establish(context.Background(), w, r, ident(), auth()); err != nil {
		t.Fatal(err)
	}
	c := cookieNamed(t, w, "__Host-gh_flow")
	if c.Value == planted || len(c.Value) != 43 {
		t.Fatalf("flow cookie after login = %q, want a new value", c.Value)
	}
	if got := m.FlowSecret(r); got != c.Value {
		t.Errorf("FlowSecret after Establish = %q, want the new value %q", got, c.Value)
	}
	if o, err := r.Cookie("other"); err != nil || o.Value != "kept" {
		t.Errorf("other cookies of the request were lost: %v %v", o, err)
	}
}

// TestEnded: the generation grows when a session ends (End, the previous session of
// Establish, NoteEnded) and not when one is created, found or ends without a record.
func TestEnded(t *testing.T) {
	m, _, _ := newManager(true, "/")
	_, c1 := establish(t, m)
	steps := []struct {
		name string
		do   func()
		grow bool
	}{
		{"establish without a previous session", func() { establish(t, m) }, false},
		{"current", func() { current(t, m, c1) }, false},
		{"establish replacing c1", func() { _, c1 = establish(t, m, c1) }, true},
		{"end", func() {
			r := httptest.NewRequest(http.MethodGet, "/logout", nil)
			r.AddCookie(c1)
			if _, ok, err := m.End(context.Background(), httptest.NewRecorder(), r); !ok || err != nil {
				t.Fatalf("End: %v %v", ok, err)
			}
		}, true},
		{"end without a cookie", func() {
			_, _, _ = m.End(context.Background(), httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/logout", nil)) //nolint:errcheck // only the generation matters
		}, false},
		{"note ended", m.NoteEnded, true},
	}
	for _, s := range steps {
		before := m.Ended()
		s.do()
		if grew := m.Ended() > before; grew != s.grow {
			t.Errorf("%s: generation grew %v, want %v", s.name, grew, s.grow)
		}
	}
}
