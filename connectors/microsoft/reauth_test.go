package microsoft_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/microsoft"
)

// Attack (issue 12.3): with prompt=login or max_age, Microsoft was not asked to
// re-authenticate and its old session answered, yet Gatehouse issued a fresh auth_time.
// Microsoft is asked (prompt=login, max_age) and its ID token's auth_time must prove it.
func TestReauthAskedAndProven(t *testing.T) {
	f := newFake(t)
	base := f.IDClaims
	var authTime time.Time
	f.IDClaims = func(user string) map[string]any {
		c := base(user)
		if !authTime.IsZero() {
			c["auth_time"] = authTime.Unix()
		}
		return c
	}
	c := open(t, f, microsoft.Config{Tenant: "organizations"})
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		ra       connectors.Reauth
		authTime time.Time
		wantURL  url.Values
		wantErr  bool
	}{
		{"prompt=login, no auth_time", connectors.Reauth{Force: true, NotBefore: time.Now().Add(-30 * time.Second)}, time.Time{},
			url.Values{"prompt": {"login"}, "max_age": {"0"}}, true},
		{"prompt=login, stale", connectors.Reauth{Force: true, NotBefore: time.Now().Add(-30 * time.Second)}, time.Now().Add(-time.Hour),
			url.Values{"prompt": {"login"}}, true},
		{"max_age=600, recent", connectors.Reauth{MaxAge: 600 * time.Second, NotBefore: time.Now().Add(-630 * time.Second)}, time.Now().Add(-5 * time.Minute),
			url.Values{"max_age": {"600"}}, false},
		{"prompt=login, fresh", connectors.Reauth{Force: true, NotBefore: time.Now().Add(-30 * time.Second)}, time.Now(),
			url.Values{"prompt": {"login"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			authTime = tc.authTime
			step, err := c.Begin(ctx, connectors.BeginRequest{CallbackURL: callback, State: "st", Reauth: tc.ra})
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(step.URL)
			for k := range tc.wantURL {
				if u.Query().Get(k) != tc.wantURL.Get(k) {
					t.Errorf("authorization URL %s = %q, want %q", k, u.Query().Get(k), tc.wantURL.Get(k))
				}
			}
			up, err := c.Finish(ctx, connectors.FinishRequest{CallbackURL: callback, State: "st", Stash: step.Stash, Reauth: tc.ra},
				httptest.NewRequest("GET", f.Authorize(t, step.URL, "ann"), nil))
			switch {
			case tc.wantErr && !errors.Is(err, connectors.ErrLoginRequired):
				t.Fatalf("Finish: err = %v, want ErrLoginRequired", err)
			case !tc.wantErr && err != nil:
				t.Fatal(err)
			case !tc.wantErr && up.AuthTime.Unix() != tc.authTime.Unix():
				t.Errorf("AuthTime = %v, want the ID token's %v", up.AuthTime, tc.authTime)
			}
		})
	}
}
