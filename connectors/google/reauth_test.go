package google_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// Attack (issue 12.3): with prompt=login or max_age, Google was not asked to re-authenticate
// and its old session answered, yet Gatehouse issued a fresh auth_time. Google is asked
// (max_age, which it honours, and prompt=login), and its ID token's auth_time must prove it.
func TestReauthAskedAndProven(t *testing.T) {
	s := fakeGoogle(t)
	base := s.IDClaims
	var authTime time.Time
	s.IDClaims = func(user string) map[string]any {
		c := base(user)
		if !authTime.IsZero() {
			c["auth_time"] = authTime.Unix()
		}
		return c
	}
	c := open(t, s)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		offline  bool
		authTime time.Time
		wantErr  bool
	}{
		{"no auth_time", false, time.Time{}, true},
		{"stale auth_time", true, time.Now().Add(-time.Hour), true},
		{"fresh auth_time", false, time.Now(), false},
		{"fresh auth_time, offline", true, time.Now(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			authTime = tc.authTime
			ra := connectors.Reauth{Force: true, NotBefore: time.Now().Add(-30 * time.Second)}
			sc := connectors.Scopes{Offline: tc.offline}
			step, err := c.Begin(ctx, connectors.BeginRequest{Scopes: sc, CallbackURL: callback, State: "st", Reauth: ra})
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(step.URL)
			if u.Query().Get("max_age") != "0" {
				t.Errorf("authorization URL without max_age=0: %s", step.URL)
			}
			up, err := c.Finish(ctx, connectors.FinishRequest{Scopes: sc, CallbackURL: callback, State: "st", Stash: step.Stash, Reauth: ra},
				httptest.NewRequest("GET", s.Authorize(t, step.URL, "bob"), nil))
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
