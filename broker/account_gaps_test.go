package broker_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/connectors/local"
)

// ReplacePasswordHash passes a password change on to the user source (the switches say
// only what LookupUser reports), so the local connector can change passwords here.
func (u switchedUsers) ReplacePasswordHash(ctx context.Context, username, oldHash, newHash string) error {
	rh, ok := u.UserSource.(local.PasswordRehasher)
	if !ok {
		return errors.ErrUnsupported
	}
	return rh.ReplacePasswordHash(ctx, username, oldHash, newHash)
}

// TestAccountPasswordlessNoPasswordForm: a local account without a password (passkeys only)
// sees a line saying so instead of the password form, which could never succeed, and a
// password change POSTed anyway is refused (409) before any password is checked; an account
// with a password keeps the form, and its POST reaches the check of the current password.
func TestAccountPasswordlessNoPasswordForm(t *testing.T) {
	tests := []struct {
		name       string
		noPassword bool
		wantForm   bool
		wantStatus int
		wantBody   string
	}{
		{"account with a password", false, true, http.StatusUnauthorized, "current password"},
		{"passkey-only account", true, false, http.StatusConflict, "your account has no password to change"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPasskeyEnv(t)
			b := e.browser()
			e.signInWithPassword(b, e.rp(confidentialID, confidentialSecret, redirectURI))
			e.noPassword.Store(tt.noPassword)
			p := b.get(e.issuer + "/account")
			if p.status != http.StatusOK {
				t.Fatalf("account page: %d\n%s", p.status, p.body)
			}
			hasForm := strings.Contains(p.body, `value="change-password"`)
			hasLine := strings.Contains(p.body, "Your account has no password: you sign in with a passkey.")
			if hasForm != tt.wantForm || hasLine == tt.wantForm {
				t.Fatalf("password form shown %v, no-password line shown %v; want form %v\n%s", hasForm, hasLine, tt.wantForm, p.body)
			}
			var action string
			var vals url.Values
			for _, m := range anyFormRe.FindAllStringSubmatch(p.body, -1) {
				if action, vals = form(t, m[0]); vals.Get("csrf") != "" {
					break
				}
			}
			if vals.Get("csrf") == "" {
				t.Fatalf("no form with a CSRF token on the account page\n%s", p.body)
			}
			vals.Set("action", "change-password")
			vals.Set("current", "wrong-password-1")
			vals.Set("new", "a-new-password-2")
			vals.Set("confirm", "a-new-password-2")
			p = b.post(e.issuer+action, vals)
			if p.status != tt.wantStatus || !strings.Contains(strings.ToLower(p.body), tt.wantBody) {
				t.Fatalf("password change: %d, want %d with %q\n%s", p.status, tt.wantStatus, tt.wantBody, p.body)
			}
		})
	}
}
