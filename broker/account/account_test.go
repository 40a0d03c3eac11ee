package account

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
	"github.com/gatehouse-id/gatehouse/web"
)

// newHandler returns the account page over a fresh SQLite store, MFA on unless noMFA, and
// the mux it is mounted on (under /id).
func newHandler(t *testing.T, noMFA bool) (*Handler, *sqlite.Store, http.Handler) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gh.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	tmpl, err := web.Load("")
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{
		Sessions:   &session.Manager{Store: store, Idle: time.Hour, Absolute: 24 * time.Hour, Now: time.Now},
		Pages:      &pages.Renderer{Templates: tmpl, Logger: logger, Base: "/id"},
		Connectors: connset.New(nil), Ceremonies: store, Logger: logger, Now: time.Now,
	}
	if !noMFA {
		if h.MFA, err = mfa.New(mfa.Options{Store: store, IssuerName: "Example", SecretsKey: "test-secrets-key-0123456789abcdef"}); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	same := func(h http.Handler) http.Handler { return h }
	h.Mount(route.New(mux, "/id", same, same, same))
	return h, store, mux
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

// TestAccountPageGates: the page is there without MFA too (issue 16: it was a 404); without
// a session and without a login flow to start, it asks the user to sign in.
func TestAccountPageGates(t *testing.T) {
	for _, noMFA := range []bool{true, false} {
		_, _, h := newHandler(t, noMFA)
		if rec := get(t, h, "/id/account"); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "You are not signed in") {
			t.Errorf("no session (MFA off: %v): %d\n%s", noMFA, rec.Code, rec.Body)
		}
	}
}

// TestCeremonyIsSingleUse: a kept ceremony is taken once; after that, and without a store,
// there is none.
func TestCeremonyIsSingleUse(t *testing.T) {
	h, _, _ := newHandler(t, false)
	ctx := context.Background()
	if err := h.keepCeremony(ctx, ceremonyLogin, "s1", "state-1"); err != nil {
		t.Fatal(err)
	}
	if got, err := h.takeCeremony(ctx, ceremonyRegister, "s1"); !errors.Is(err, mfa.ErrExpired) {
		t.Errorf("other kind: %q, %v", got, err)
	}
	if got, err := h.takeCeremony(ctx, ceremonyLogin, "s1"); err != nil || got != "state-1" {
		t.Fatalf("take: %q, %v", got, err)
	}
	if _, err := h.takeCeremony(ctx, ceremonyLogin, "s1"); !errors.Is(err, mfa.ErrExpired) {
		t.Errorf("second take: %v, want mfa.ErrExpired", err)
	}
	h.Ceremonies = nil
	if _, err := h.takeCeremony(ctx, ceremonyLogin, "s1"); !errors.Is(err, mfa.ErrWebAuthnDisabled) {
		t.Errorf("no store: %v, want mfa.ErrWebAuthnDisabled", err)
	}
}
