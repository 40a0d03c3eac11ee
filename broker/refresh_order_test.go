package broker_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

// failRotation is the SQLite store whose next RotateRefreshToken fails (once) when fail is set.
type failRotation struct {
	*sqlite.Store
	fail atomic.Bool
}

func (f *failRotation) RotateRefreshToken(ctx context.Context, oldHash string, next storage.RefreshToken, now time.Time) (storage.Grant, storage.RefreshToken, error) {
	if f.fail.CompareAndSwap(true, false) {
		return storage.Grant{}, storage.RefreshToken{}, errors.New("database unavailable (test)")
	}
	return f.Store.RotateRefreshToken(ctx, oldHash, next, now)
}

// RotateRefreshTokenOnly fails like RotateRefreshToken: the token endpoint rotates through
// it (storage.RefreshHotPath) when the store has it.
func (f *failRotation) RotateRefreshTokenOnly(ctx context.Context, oldHash string, next storage.RefreshToken, now time.Time) (storage.RefreshToken, error) {
	if f.fail.CompareAndSwap(true, false) {
		return storage.RefreshToken{}, errors.New("database unavailable (test)")
	}
	return f.Store.RotateRefreshTokenOnly(ctx, oldHash, next, now)
}

// TestRefreshKeepsUpstreamAnswerWhenRotationFails: what the upstream answered on a refresh
// (here a changed name) is kept on the grant before the rotation, so a rotation that fails
// afterwards does not lose it (an upstream that rotated its own refresh token cannot be asked
// with the old one again), and the client's token stays usable for a retry.
func TestRefreshKeepsUpstreamAnswerWhenRotationFails(t *testing.T) {
	var fr *failRotation
	e := newEnvClaims(t, "ES256", nil, func(d *broker.Deps) {
		fr = &failRotation{Store: d.Storage.(*sqlite.Store)}
		d.Storage = fr
	})
	code, verifier := e.codeFor(e.browser(), "openid offline_access")
	errCode, tok := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}, confidentialID, confidentialSecret)
	if errCode != "" {
		t.Fatalf("code exchange: %s", errCode)
	}
	rt := tok["refresh_token"].(string)
	ctx := context.Background()
	u, err := fr.GetLocalUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	u.Name = "Alice Renamed"
	if err := fr.UpsertLocalUser(ctx, u); err != nil {
		t.Fatal(err)
	}

	fr.fail.Store(true)
	if code, _, _ := refresh(t, e, rt); code != "server_error" {
		t.Fatalf("refresh with the rotation failing: %q, want server_error", code)
	}
	h := sha256.Sum256([]byte(rt))
	old, err := fr.GetRefreshToken(ctx, base64.RawURLEncoding.EncodeToString(h[:]))
	if err != nil {
		t.Fatal(err)
	}
	g, err := fr.GetGrant(ctx, old.GrantID)
	if err != nil {
		t.Fatal(err)
	}
	if g.Identity.Name != "Alice Renamed" {
		t.Fatalf("grant identity name after the failed rotation: %q, want the upstream's answer kept", g.Identity.Name)
	}
	if code, _, _ := refresh(t, e, rt); code != "" {
		t.Fatalf("retry with the same token after the failed rotation: %q, want success", code)
	}
}
