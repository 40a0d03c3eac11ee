package local

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// memUsers is an in-memory UserSource.
type memUsers struct {
	mu    sync.Mutex
	users map[string]User
	err   error // returned by every lookup when set
}

func (m *memUsers) LookupUser(_ context.Context, username string) (User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return User{}, m.err
	}
	u, ok := m.users[username]
	if !ok {
		return User{}, ErrUserNotFound
	}
	return u, nil
}

func (m *memUsers) LookupUserByEmail(_ context.Context, email string) (User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return User{}, m.err
	}
	var found []User
	for _, u := range m.users {
		if u.Email != "" && strings.EqualFold(u.Email, email) {
			found = append(found, u)
		}
	}
	switch len(found) {
	case 0:
		return User{}, ErrUserNotFound
	case 1:
		return found[0], nil
	}
	return User{}, ErrAmbiguousEmail
}

func (m *memUsers) delete(username string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.users, username)
}

var fixedNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func open(t *testing.T, users UserSource, cost int) *Connector {
	t.Helper()
	cfg := &Config{Users: users, Cost: cost}
	c, err := cfg.Open(t.Context(), connectors.Info{ID: "local", Type: "local", Name: "Local"}, connectors.Deps{
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		Now:    func() time.Time { return fixedNow },
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return c.(*Connector)
}

func mustHash(t *testing.T, pw string, cost int) string {
	t.Helper()
	h, err := HashPassword(pw, cost)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	return h
}

func TestLogin(t *testing.T) {
	users := &memUsers{users: map[string]User{
		"alice": {
			Username: "alice", Email: "alice@example.com", EmailVerified: true, Name: "Alice A",
			Groups: []string{"admins", "dev"}, PasswordHash: mustHash(t, "correct horse", bcrypt.MinCost),
		},
		"broken":   {Username: "broken", PasswordHash: "not-a-bcrypt-hash"},
		"disabled": {Username: "disabled", PasswordHash: DisabledPrefix + mustHash(t, "correct horse", bcrypt.MinCost)},
	}}
	c := open(t, users, bcrypt.MinCost)

	tests := []struct {
		name     string
		username string
		password string
		wantErr  error
	}{
		{"right password", "alice", "correct horse", nil},
		{"surrounding spaces trimmed", "  alice ", "correct horse", nil},
		{"wrong password", "alice", "wrong", connectors.ErrBadCredentials},
		{"password not trimmed", "alice", " correct horse", connectors.ErrBadCredentials},
		{"username is case sensitive", "Alice", "correct horse", connectors.ErrBadCredentials},
		{"unknown user", "bob", "correct horse", connectors.ErrBadCredentials},
		{"empty password", "alice", "", connectors.ErrBadCredentials},
		{"empty username", "", "correct horse", connectors.ErrBadCredentials},
		{"blank username", "   ", "correct horse", connectors.ErrBadCredentials},
		{"invalid stored hash", "broken", "anything", connectors.ErrBadCredentials},
		{"disabled user, right password", "disabled", "correct horse", connectors.ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, err := c.Login(t.Context(), connectors.Scopes{Groups: true}, tt.username, tt.password)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Login error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if up.Subject != "" {
					t.Errorf("failed login returned subject %q", up.Subject)
				}
				return
			}
			if up.Subject != "alice" || up.Username != "alice" {
				t.Errorf("Subject/Username = %q/%q, want alice", up.Subject, up.Username)
			}
			if up.Email != "alice@example.com" || !up.EmailVerified || up.Name != "Alice A" {
				t.Errorf("attributes = %q %v %q", up.Email, up.EmailVerified, up.Name)
			}
			if !slices.Equal(up.Groups, []string{"admins", "dev"}) {
				t.Errorf("Groups = %v", up.Groups)
			}
			if !slices.Equal(up.AMR, []string{"pwd"}) {
				t.Errorf("AMR = %v, want [pwd]", up.AMR)
			}
			if !up.AuthTime.Equal(fixedNow) {
				t.Errorf("AuthTime = %v, want %v", up.AuthTime, fixedNow)
			}
		})
	}
}

func TestLoginSourceFailure(t *testing.T) {
	users := &memUsers{err: errors.New("database is locked")}
	c := open(t, users, bcrypt.MinCost)
	_, err := c.Login(t.Context(), connectors.Scopes{}, "alice", "pw")
	var ue *connectors.UpstreamError
	if !errors.As(err, &ue) {
		t.Fatalf("Login error = %v, want *UpstreamError", err)
	}
	if errors.Is(err, connectors.ErrBadCredentials) {
		t.Error("source failure reported as bad credentials")
	}
}

func TestRefresh(t *testing.T) {
	users := &memUsers{users: map[string]User{
		"alice": {Username: "alice", Email: "alice@example.com", Groups: []string{"dev"}, PasswordHash: mustHash(t, "pw", bcrypt.MinCost)},
	}}
	c := open(t, users, bcrypt.MinCost)
	ctx := t.Context()
	up, err := c.Login(ctx, connectors.Scopes{Offline: true}, "alice", "pw")
	if err != nil {
		t.Fatalf("Login: %v", err)
	}

	// A change in the store shows up on refresh; auth context is kept.
	users.mu.Lock()
	u := users.users["alice"]
	u.Groups = []string{"dev", "ops"}
	u.Email = "alice@new.example.com"
	users.users["alice"] = u
	users.mu.Unlock()

	got, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, up)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if got.Subject != "alice" || got.Email != "alice@new.example.com" || !slices.Equal(got.Groups, []string{"dev", "ops"}) {
		t.Errorf("Refresh = %+v", got)
	}
	if !got.AuthTime.Equal(up.AuthTime) || !slices.Equal(got.AMR, up.AMR) {
		t.Errorf("Refresh changed auth context: %v %v", got.AuthTime, got.AMR)
	}

	users.mu.Lock()
	users.users["alice"] = User{Username: "alice", PasswordHash: DisabledPrefix + u.PasswordHash}
	users.mu.Unlock()
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, up); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh of a disabled user: error = %v, want ErrUpstreamRevoked", err)
	}

	users.delete("alice")
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, up); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh of deleted user: error = %v, want ErrUpstreamRevoked", err)
	}

	users.err = errors.New("down")
	var ue *connectors.UpstreamError
	if _, err := c.Refresh(ctx, connectors.Scopes{}, up); !errors.As(err, &ue) {
		t.Fatalf("Refresh with failing source: error = %v, want *UpstreamError", err)
	}
}

// TestLoginTiming checks that an unknown user costs about as much as a wrong password: both
// must perform a bcrypt comparison of the same cost. Only loose bounds are asserted.
func TestLoginTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test runs a dozen bcrypt comparisons")
	}
	// A cost below the default keeps the test fast under -race; the dummy hash is made at
	// the same cost as the stored one, as in production.
	const cost = 6
	hash := mustHash(t, "secret", cost)
	users := &memUsers{users: map[string]User{"alice": {Username: "alice", PasswordHash: hash}}}
	c := open(t, users, cost)
	ctx := t.Context()

	measure := func(f func()) time.Duration {
		start := time.Now()
		f()
		return time.Since(start)
	}
	// Per round the three measurements run back to back, so a busy machine slows them alike:
	// the median of the per-round ratios is asserted, not absolute times.
	var wrong, unknown []float64
	for range 9 {
		base := measure(func() { _ = bcrypt.CompareHashAndPassword([]byte(hash), []byte("nope")) })
		w := measure(func() {
			if _, err := c.Login(ctx, connectors.Scopes{}, "alice", "nope"); !errors.Is(err, connectors.ErrBadCredentials) {
				t.Errorf("wrong password: %v", err)
			}
		})
		u := measure(func() {
			if _, err := c.Login(ctx, connectors.Scopes{}, "nobody", "nope"); !errors.Is(err, connectors.ErrBadCredentials) {
				t.Errorf("unknown user: %v", err)
			}
		})
		wrong = append(wrong, float64(w)/float64(base))
		unknown = append(unknown, float64(u)/float64(base))
	}
	median := func(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }
	mw, mu := median(wrong), median(unknown)
	t.Logf("median time of one bcrypt comparison's: wrong password %.2f, unknown user %.2f", mw, mu)
	if mw < 0.5 {
		t.Errorf("wrong-password login took %.2f of a bcrypt comparison, want at least 0.5", mw)
	}
	if mu < 0.5 {
		t.Errorf("unknown-user login took %.2f of a bcrypt comparison, want at least 0.5", mu)
	}
	if mu < mw/2 {
		t.Errorf("unknown-user login (%.2f) took less than half a wrong-password login (%.2f)", mu, mw)
	}
}

func TestHashPassword(t *testing.T) {
	if _, err := HashPassword("", bcrypt.MinCost); err == nil {
		t.Error("HashPassword accepted an empty password")
	}
	if _, err := HashPassword(strings.Repeat("x", 73), bcrypt.MinCost); err == nil {
		t.Error("HashPassword accepted a 73-byte password")
	}
	if _, err := HashPassword("pw", bcrypt.MaxCost+1); err == nil {
		t.Error("HashPassword accepted an invalid cost")
	}
	h, err := HashPassword("pw", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost([]byte(h)); cost != bcrypt.MinCost {
		t.Errorf("cost = %d, want %d", cost, bcrypt.MinCost)
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("pw")) != nil {
		t.Error("hash does not verify")
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		p, err := GeneratePassword()
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 20 {
			t.Errorf("len(%q) = %d, want 20", p, len(p))
		}
		if strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Errorf("%q is not URL-safe", p)
		}
		if seen[p] {
			t.Errorf("duplicate password %q", p)
		}
		seen[p] = true
	}
}

func TestConfig(t *testing.T) {
	users := &memUsers{}
	tests := []struct {
		name        string
		cfg         Config
		validateErr bool
		openErr     bool
		wantPrompt  string
	}{
		{"defaults", Config{Users: users, Cost: bcrypt.MinCost}, false, false, "Username or email"},
		{"username only", Config{Users: users, Cost: bcrypt.MinCost, LoginWith: []string{"username"}}, false, false, "Username"},
		{"email only", Config{Users: users, Cost: bcrypt.MinCost, LoginWith: []string{"email"}}, false, false, "Email"},
		{"both", Config{Users: users, Cost: bcrypt.MinCost, LoginWith: []string{"email", "username"}}, false, false, "Username or email"},
		{"login_with unknown", Config{Users: users, LoginWith: []string{"phone"}}, true, true, ""},
		{"login_with twice", Config{Users: users, LoginWith: []string{"email", "email"}}, true, true, ""},
		{"custom prompt", Config{Users: users, Prompt: "Email", Cost: bcrypt.MinCost}, false, false, "Email"},
		{"no user source validates but does not open", Config{}, false, true, ""},
		{"multi-line prompt", Config{Users: users, Prompt: "a\nb"}, true, true, ""},
		{"long prompt", Config{Users: users, Prompt: strings.Repeat("p", 65)}, true, true, ""},
		{"bad cost", Config{Users: users, Cost: 1}, true, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err != nil) != tt.validateErr {
				t.Errorf("Validate error = %v, want error %v", err, tt.validateErr)
			}
			c, err := tt.cfg.Open(t.Context(), connectors.Info{ID: "local"}, connectors.Deps{})
			if (err != nil) != tt.openErr {
				t.Fatalf("Open error = %v, want error %v", err, tt.openErr)
			}
			if err != nil {
				return
			}
			pc := c.(connectors.PasswordConnector)
			if pc.Prompt() != tt.wantPrompt {
				t.Errorf("Prompt = %q, want %q", pc.Prompt(), tt.wantPrompt)
			}
			if pc.Info().ID != "local" {
				t.Errorf("Info = %+v", pc.Info())
			}
			if err := pc.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

// TestLoginWith: login_with decides what the username field takes; the upstream subject is
// the username whichever was typed; an email several users share signs nobody in; a
// username containing @ still matches first.
func TestLoginWith(t *testing.T) {
	hash := mustHash(t, "pw-alice", bcrypt.MinCost)
	users := &memUsers{users: map[string]User{
		"alice":            {Username: "alice", Email: "Alice@Example.com", PasswordHash: hash},
		"bob":              {Username: "bob", Email: "shared@example.com", PasswordHash: hash},
		"carol":            {Username: "carol", Email: "shared@example.com", PasswordHash: hash},
		"dave@example.com": {Username: "dave@example.com", Email: "dave@example.net", PasswordHash: hash},
		"noemail":          {Username: "noemail", PasswordHash: hash},
	}}
	both, names, emails := []string(nil), []string{"username"}, []string{"email"}
	tests := []struct {
		name      string
		loginWith []string
		typed     string
		wantSub   string // "" = bad credentials
	}{
		{"default: username", both, "alice", "alice"},
		{"default: email", both, "alice@example.com", "alice"},
		{"default: a username with @", both, "dave@example.com", "dave@example.com"},
		{"default: that user's email", both, "dave@example.net", "dave@example.com"},
		{"default: email, any case", both, "ALICE@EXAMPLE.COM", "alice"},
		{"default: email with spaces", both, "  Alice@Example.com ", "alice"},
		{"default: shared email", both, "shared@example.com", ""},
		{"default: unknown email", both, "nobody@example.com", ""},
		{"default: empty", both, "", ""},
		{"username only: username", names, "alice", "alice"},
		{"username only: email refused", names, "Alice@Example.com", ""},
		{"email only: email", emails, "alice@example.COM", "alice"},
		{"email only: username refused", emails, "alice", ""},
		{"email only: a username with @ is not an email", emails, "dave@example.com", ""},
		{"both listed", []string{"email", "username"}, "bob", "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &Config{Users: users, Cost: bcrypt.MinCost, LoginWith: tt.loginWith}
			c, err := cfg.Open(t.Context(), connectors.Info{ID: "local"}, connectors.Deps{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
			if err != nil {
				t.Fatal(err)
			}
			up, err := c.(connectors.PasswordConnector).Login(t.Context(), connectors.Scopes{}, tt.typed, "pw-alice")
			if tt.wantSub == "" {
				if !errors.Is(err, connectors.ErrBadCredentials) {
					t.Fatalf("Login = %+v, %v; want bad credentials", up, err)
				}
				return
			}
			if err != nil || up.Subject != tt.wantSub || up.Username != tt.wantSub {
				t.Fatalf("Login = %+v, %v; want subject %s", up, err, tt.wantSub)
			}
			if _, err := c.(connectors.PasswordConnector).Login(t.Context(), connectors.Scopes{}, tt.typed, "wrong"); !errors.Is(err, connectors.ErrBadCredentials) {
				t.Errorf("wrong password: %v", err)
			}
		})
	}
}
