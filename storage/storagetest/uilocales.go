package storagetest

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// testAuthRequestUILocales: an auth request's ui_locales round-trips through create, get and
// update; a request without one reads back "".
func testAuthRequestUILocales(t *testing.T, s storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	for _, tc := range []struct{ id, set, update string }{
		{"ar-ui-none", "", "fr"},
		{"ar-ui-one", "ar", ""},
		{"ar-ui-many", "ja de-AT en", "es-MX fr-CA"},
	} {
		r := authRequest(tc.id, now)
		r.UILocales = tc.set
		wantErr(t, "create auth request", s.CreateAuthRequest(ctx, r), nil)
		got, err := s.GetAuthRequest(ctx, r.ID)
		wantErr(t, "get auth request", err, nil)
		if got.UILocales != tc.set {
			t.Fatalf("%s: UILocales = %q, want %q", tc.id, got.UILocales, tc.set)
		}
		err = s.UpdateAuthRequest(ctx, r.ID, func(cur storage.AuthRequest) (storage.AuthRequest, error) {
			if cur.UILocales != tc.set {
				t.Errorf("%s: update sees UILocales %q, want %q", tc.id, cur.UILocales, tc.set)
			}
			cur.UILocales = tc.update
			return cur, nil
		})
		wantErr(t, "update auth request", err, nil)
		if got, err = s.GetAuthRequest(ctx, r.ID); err != nil || got.UILocales != tc.update {
			t.Fatalf("%s: after update UILocales = %q (%v), want %q", tc.id, got.UILocales, err, tc.update)
		}
	}
}
