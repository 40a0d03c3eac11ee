package claims

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// memLinks is an in-memory storage.LinkStore.
type memLinks struct {
	mu      sync.Mutex
	links   map[[2]string]storage.UserLink
	created int
	err     error
}

func newMemLinks() *memLinks { return &memLinks{links: map[[2]string]storage.UserLink{}} }

func (m *memLinks) LinkUser(_ context.Context, connectorID, upstreamSubject, newUserID string, now time.Time) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return "", false, m.err
	}
	k := [2]string{connectorID, upstreamSubject}
	if l, ok := m.links[k]; ok {
		return l.UserID, false, nil
	}
	m.links[k] = storage.UserLink{ConnectorID: connectorID, UpstreamSubject: upstreamSubject, UserID: newUserID, CreatedAt: now}
	m.created++
	return newUserID, true, nil
}

func (m *memLinks) GetUserLink(_ context.Context, connectorID, upstreamSubject string) (storage.UserLink, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.links[[2]string{connectorID, upstreamSubject}]
	if !ok {
		return storage.UserLink{}, storage.ErrNotFound
	}
	return l, nil
}

var _ storage.LinkStore = (*memLinks)(nil)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))

func newNormalizer() (*Normalizer, *memLinks) {
	l := newMemLinks()
	return &Normalizer{Links: l, Now: func() time.Time { return t0 }}, l
}

func TestNormalizeLinking(t *testing.T) {
	ctx := context.Background()
	n, links := newNormalizer()
	up := connectors.Upstream{Subject: "cn=ann", Username: "ann", Email: "ann@example.com", EmailVerified: true}

	first, err := n.Normalize(ctx, "ldap", up)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Subject) != 32 || first.Subject == up.Subject {
		t.Errorf("sub = %q: want a 128-bit internal ID, never the upstream ID", first.Subject)
	}
	l, err := links.GetUserLink(ctx, "ldap", "cn=ann")
	if err != nil || l.UserID != first.Subject || !l.CreatedAt.Equal(t0) || l.CreatedAt.Location() != time.UTC {
		t.Errorf("link = %+v, %v", l, err)
	}

	// Later logins, even with changed attributes, keep sub; the link is created once.
	up.Email = "ann.new@example.com"
	for i := 0; i < 3; i++ {
		again, err := n.Normalize(ctx, "ldap", up)
		if err != nil {
			t.Fatal(err)
		}
		if again.Subject != first.Subject {
			t.Fatalf("login %d: sub changed from %q to %q", i, first.Subject, again.Subject)
		}
		if again.Email != "ann.new@example.com" {
			t.Errorf("email not refreshed: %q", again.Email)
		}
	}
	if links.created != 1 {
		t.Errorf("links created = %d, want 1", links.created)
	}

	// Same upstream subject on another connector is another user.
	other, err := n.Normalize(ctx, "github", up)
	if err != nil {
		t.Fatal(err)
	}
	if other.Subject == first.Subject {
		t.Errorf("two connectors share a sub")
	}
	// Another upstream subject on the same connector is another user.
	bob, err := n.Normalize(ctx, "ldap", connectors.Upstream{Subject: "cn=bob"})
	if err != nil {
		t.Fatal(err)
	}
	if bob.Subject == first.Subject || bob.Subject == other.Subject {
		t.Errorf("distinct upstream users share a sub")
	}
}

func TestNormalizeMapping(t *testing.T) {
	tests := []struct {
		name string
		up   connectors.Upstream
		want storage.Identity // Subject ignored
	}{
		{
			name: "full",
			up:   connectors.Upstream{Subject: "1", Username: "ann", Email: "ann@example.com", EmailVerified: true, Name: "Ann Example", Groups: []string{"admins", "dev"}},
			want: storage.Identity{Email: "ann@example.com", EmailVerified: true, Name: "Ann Example", PreferredUsername: "ann", Groups: []string{"admins", "dev"}},
		},
		{
			name: "email_verified false without email",
			up:   connectors.Upstream{Subject: "1", EmailVerified: true},
			want: storage.Identity{EmailVerified: false},
		},
		{
			name: "unverified email",
			up:   connectors.Upstream{Subject: "1", Email: "a@b.example"},
			want: storage.Identity{Email: "a@b.example"},
		},
		{
			name: "name falls back to username",
			up:   connectors.Upstream{Subject: "1", Username: "ann"},
			want: storage.Identity{Name: "ann", PreferredUsername: "ann"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, _ := newNormalizer()
			got, err := n.Normalize(context.Background(), "c", tt.up)
			if err != nil {
				t.Fatal(err)
			}
			got.Subject = ""
			if got.Email != tt.want.Email || got.EmailVerified != tt.want.EmailVerified || got.Name != tt.want.Name ||
				got.PreferredUsername != tt.want.PreferredUsername || !slices.Equal(got.Groups, tt.want.Groups) {
				t.Errorf("Normalize() = %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("groups are copied", func(t *testing.T) {
		n, _ := newNormalizer()
		up := connectors.Upstream{Subject: "1", Groups: []string{"a"}}
		got, _ := n.Normalize(context.Background(), "c", up)
		up.Groups[0] = "changed"
		if got.Groups[0] != "a" {
			t.Errorf("identity shares the connector's group slice")
		}
	})
}

func TestNormalizeErrors(t *testing.T) {
	n, links := newNormalizer()
	if _, err := n.Normalize(context.Background(), "c", connectors.Upstream{}); err == nil {
		t.Errorf("empty upstream subject accepted")
	}
	if links.created != 0 {
		t.Errorf("a link was created for an empty subject")
	}
	boom := errors.New("db down")
	links.err = boom
	if _, err := n.Normalize(context.Background(), "c", connectors.Upstream{Subject: "x"}); !errors.Is(err, boom) {
		t.Errorf("Normalize() = %v, want the store error wrapped", err)
	}
}

func TestForScopes(t *testing.T) {
	full := storage.Identity{Subject: "u1", Email: "ann@example.com", EmailVerified: true, Name: "Ann", PreferredUsername: "ann", Groups: []string{"dev"}}
	tests := []struct {
		name   string
		id     storage.Identity
		scopes []string
		want   string // JSON
	}{
		{"openid only", full, []string{"openid"}, `{}`},
		{"email", full, []string{"openid", "email"}, `{"email":"ann@example.com","email_verified":true}`},
		{"email unverified", storage.Identity{Email: "a@b"}, []string{"email"}, `{"email":"a@b","email_verified":false}`},
		{"email absent", storage.Identity{}, []string{"email"}, `{}`},
		{"profile", full, []string{"profile"}, `{"name":"Ann","preferred_username":"ann"}`},
		{"profile partial", storage.Identity{PreferredUsername: "ann"}, []string{"profile"}, `{"preferred_username":"ann"}`},
		{"groups", full, []string{"groups"}, `{"groups":["dev"]}`},
		{"groups nil is empty list", storage.Identity{}, []string{"groups"}, `{"groups":[]}`},
		{"groups empty is empty list", storage.Identity{Groups: []string{}}, []string{"groups"}, `{"groups":[]}`},
		{"offline_access releases nothing", full, []string{"offline_access"}, `{}`},
		{"unknown scope releases nothing", full, []string{"admin"}, `{}`},
		{"everything", full, []string{"openid", "profile", "email", "groups", "offline_access"},
			`{"email":"ann@example.com","email_verified":true,"groups":["dev"],"name":"Ann","preferred_username":"ann"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ForScopes(tt.id, tt.scopes)
			if _, ok := got["sub"]; ok {
				t.Errorf("ForScopes released sub (the caller adds it)")
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("ForScopes() = %s, want %s", b, tt.want)
			}
		})
	}
}

func TestScopes(t *testing.T) {
	for _, s := range SupportedScopes() {
		if !KnownScope(s) {
			t.Errorf("supported scope %q not known", s)
		}
	}
	for _, s := range []string{"", "admin", "OPENID", "openid "} {
		if KnownScope(s) {
			t.Errorf("KnownScope(%q) = true", s)
		}
	}
	if ScopeDescription("email") == "" || ScopeDescription("openid") != "" {
		t.Errorf("scope descriptions wrong")
	}
	if !slices.Contains(SupportedClaims(), "groups") || !slices.Contains(SupportedClaims(), "sub") {
		t.Errorf("SupportedClaims() = %v", SupportedClaims())
	}
}

func TestNewUserID(t *testing.T) {
	a, err1 := NewUserID()
	b, err2 := NewUserID()
	if err1 != nil || err2 != nil || a == b || len(a) != 32 {
		t.Errorf("NewUserID() = %q, %q", a, b)
	}
}
