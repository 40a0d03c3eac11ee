package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/seal"
	"github.com/gatehouse-id/gatehouse/storage"
)

// sealMarkers are the secrets RunSealing writes; none may appear in a raw sealed column.
var sealMarkers = []string{
	"PRIVATE-JWK-marker", "BLOB-KEY-marker", "TOTP-SECRET-marker",
	"UPSTREAM-TOKEN-grant", "UPSTREAM-TOKEN-session", "UPSTREAM-TOKEN-code", "UPSTREAM-TOKEN-request",
	"PKCE-VERIFIER-marker",
}

// TestKeyring returns a keyring of test keys with the given IDs (each key is its ID repeated).
func TestKeyring(t testing.TB, ids ...string) *seal.Keyring {
	t.Helper()
	var keys []seal.Key
	for _, id := range ids {
		secret := bytes.Repeat([]byte(id), seal.KeySize/len(id)+1)[:seal.KeySize]
		keys = append(keys, seal.Key{ID: id, Secret: secret})
	}
	k, err := seal.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// RunSealing checks sealing at rest (storage.Sealer, storage.Resealer): open(t, sl) must
// return a handle on one and the same database on every call of one subtest (a new empty
// database per subtest), opened with sl (nil: no sealing), implementing storage.BlobStore,
// storage.MFAStore, storage.MFASecretUpdater, storage.RawColumns and storage.Resealer. It writes a secret of every kind
// in clear, then checks that a sealing handle reads them, that Reseal seals them all (no
// secret left in any raw sealed column), that rotation reseals under the newest key, and that
// a row sealed under a key no longer configured fails naming its table and row.
func RunSealing(t *testing.T, open func(t *testing.T, sl storage.Sealer) storage.Storage) {
	t.Run("MigrateAndRotate", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 4*timeout)
		defer cancel()
		now := time.Now().UTC().Truncate(time.Millisecond)
		plain := open(t, nil)
		writeSecrets(ctx, t, plain, now, "a")
		k1 := TestKeyring(t, "k1")
		s1 := open(t, k1)
		checkSecrets(ctx, t, s1, now, "a") // plaintext rows read through a sealing handle
		res, err := s1.(storage.Resealer).Reseal(ctx, 2)
		if err != nil {
			t.Fatalf("Reseal: %v", err)
		}
		if res.Resealed < int64(len(sealMarkers)) {
			t.Errorf("Reseal sealed %d rows, want at least %d", res.Resealed, len(sealMarkers))
		}
		writeSecrets(ctx, t, s1, now, "b") // written sealed
		must(t, s1.(storage.MFASecretUpdater).UpdateMFAFactorSecret(ctx, "user-b", "factor-b", []byte("TOTP-SECRET-marker-b")))
		if err := s1.(storage.MFASecretUpdater).UpdateMFAFactorSecret(ctx, "user-b", "nope", nil); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("UpdateMFAFactorSecret of a missing factor = %v, want ErrNotFound", err)
		}
		assertRawSealed(ctx, t, s1, "k1")
		checkSecrets(ctx, t, s1, now, "a")
		checkSecrets(ctx, t, s1, now, "b")
		if again, err := s1.(storage.Resealer).Reseal(ctx, 100); err != nil || again.Resealed != 0 {
			t.Errorf("second Reseal = %+v, %v; want nothing to do", again, err)
		}

		s2 := open(t, TestKeyring(t, "k2", "k1")) // rotation: k2 seals, k1 still opens
		checkSecrets(ctx, t, s2, now, "a")
		if _, err := s2.(storage.Resealer).Reseal(ctx, 3); err != nil {
			t.Fatalf("Reseal under k2: %v", err)
		}
		assertRawSealed(ctx, t, s2, "k2")

		s3 := open(t, k1) // k2 is gone: every read fails loudly, naming the row
		_, err = s3.GetGrant(ctx, "grant-a")
		if !errors.Is(err, seal.ErrUnknownKey) || !strings.Contains(err.Error(), "grants/auth/grant-a") {
			t.Errorf("GetGrant under a missing key = %v, want ErrUnknownKey naming grants/auth/grant-a", err)
		}
		_, err = open(t, nil).ListSigningKeys(ctx)
		if !errors.Is(err, storage.ErrNoSealKeys) || !strings.Contains(err.Error(), "signing_keys/private_jwk/") {
			t.Errorf("ListSigningKeys without keys = %v, want ErrNoSealKeys naming the key", err)
		}
	})
	t.Run("RotateOnline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 4*timeout)
		defer cancel()
		now := time.Now().UTC().Truncate(time.Millisecond)
		old := open(t, TestKeyring(t, "k1"))
		for i := range 40 {
			must(t, writeBlobAndGrant(ctx, old, now, fmt.Sprintf("pre-%02d", i)))
		}
		rotated := TestKeyring(t, "k2", "k1")
		a, b := open(t, rotated), open(t, rotated) // two replicas after the key rollout
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		wg.Add(2)
		go func() { // a replica keeps writing and updating while the other reseals
			defer wg.Done()
			for i := range 40 {
				tag := fmt.Sprintf("pre-%02d", i)
				auth := storage.Authentication{ConnectorID: "up", AuthTime: now, ConnectorData: []byte("UPSTREAM-TOKEN-grant-" + tag + "-v2")}
				if err := a.(storage.GrantUpdater).UpdateGrantIdentity(ctx, "grant-"+tag, storage.Identity{Subject: "s"}, auth); err != nil {
					errs <- err
					return
				}
				if err := writeBlobAndGrant(ctx, a, now, fmt.Sprintf("new-%02d", i)); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := b.(storage.Resealer).Reseal(ctx, 3); err != nil {
				errs <- err
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if _, err := b.(storage.Resealer).Reseal(ctx, 7); err != nil { // what the race left behind
			t.Fatal(err)
		}
		assertRawSealed(ctx, t, b, "k2")
		for i := range 40 {
			tag := fmt.Sprintf("pre-%02d", i)
			g, err := b.GetGrant(ctx, "grant-"+tag)
			if err != nil || string(g.Auth.ConnectorData) != "UPSTREAM-TOKEN-grant-"+tag+"-v2" {
				t.Errorf("GetGrant(%s) after an online rotation = %q, %v", tag, g.Auth.ConnectorData, err)
			}
		}
		only2 := open(t, TestKeyring(t, "k2")) // k1 can go: nothing needs it any more
		for _, tag := range []string{"pre-00", "new-39"} {
			if v, err := only2.(storage.BlobStore).GetBlob(ctx, "blob-"+tag, now); err != nil || string(v) != "BLOB-KEY-marker-"+tag {
				t.Errorf("GetBlob(%s) under k2 only = %q, %v", tag, v, err)
			}
		}
	})
	t.Run("MovedValueDoesNotOpen", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		s := open(t, TestKeyring(t, "k1"))
		bs := s.(storage.BlobStore)
		for _, key := range []string{"x", "y"} {
			if err := bs.PutBlob(ctx, storage.Blob{Key: key, Value: []byte("secret " + key)}); err != nil {
				t.Fatal(err)
			}
		}
		raw := s.(storage.RawColumns)
		col := storage.SealedColumn{Table: "blobs", Column: "value", Key: "key"}
		rows, err := raw.RawPage(ctx, col, "", 10)
		if err != nil || len(rows) != 2 {
			t.Fatalf("RawPage = %v, %v", rows, err)
		}
		if ok, err := raw.RawSwap(ctx, col, "y", rows[1].Value, rows[0].Value); !ok || err != nil {
			t.Fatalf("RawSwap = %v, %v", ok, err)
		}
		if v, err := bs.GetBlob(ctx, "y", time.Now()); err == nil {
			t.Errorf("a sealed value copied into another row opened: %q", v)
		}
	})
}

// writeBlobAndGrant stores a blob and a grant with connector data, named after tag.
func writeBlobAndGrant(ctx context.Context, s storage.Storage, now time.Time, tag string) error {
	if err := s.(storage.BlobStore).PutBlob(ctx, storage.Blob{Key: "blob-" + tag, Value: []byte("BLOB-KEY-marker-" + tag)}); err != nil {
		return err
	}
	auth := storage.Authentication{ConnectorID: "up", AuthTime: now, ConnectorData: []byte("UPSTREAM-TOKEN-grant-" + tag)}
	return s.CreateGrant(ctx, storage.Grant{ID: "grant-" + tag, ClientID: "c", Identity: storage.Identity{Subject: "s"}, Auth: auth,
		CreatedAt: now, AbsoluteExpiry: now.Add(time.Hour)}, nil)
}

// writeSecrets stores a secret of every sealed kind, named after tag.
func writeSecrets(ctx context.Context, t *testing.T, s storage.Storage, now time.Time, tag string) {
	t.Helper()
	err := s.UpdateSigningKeys(ctx, func(cur []storage.SigningKey) ([]storage.SigningKey, bool, error) {
		return append(cur, storage.SigningKey{ID: "key-" + tag, Algorithm: "RS256",
			PrivateJWK: []byte(`{"d":"PRIVATE-JWK-marker-` + tag + `"}`), PublicJWK: []byte(`{"n":"public"}`),
			CreatedAt: now, ActiveFrom: now}), true, nil
	})
	must(t, err)
	must(t, s.(storage.BlobStore).PutBlob(ctx, storage.Blob{Key: "saml-key-" + tag, Value: []byte("BLOB-KEY-marker-" + tag)}))
	ms := s.(storage.MFAStore)
	_, err = ms.PutMFAEnrolment(ctx, storage.MFAEnrolment{UserID: "user-" + tag, Username: "u" + tag, WebAuthnID: []byte("wa-" + tag), CreatedAt: now, UpdatedAt: now})
	must(t, err)
	must(t, ms.CreateMFAFactor(ctx, storage.MFAFactor{ID: "factor-" + tag, UserID: "user-" + tag, Type: storage.MFATypeTOTP,
		Name: "phone", Secret: []byte("TOTP-SECRET-marker-" + tag), CreatedAt: now, LastUsedAt: now}))
	auth := func(what string) storage.Authentication {
		return storage.Authentication{ConnectorID: "up", AuthTime: now, ConnectorData: []byte(`{"refresh_token":"UPSTREAM-TOKEN-` + what + "-" + tag + `"}`)}
	}
	id := storage.Identity{Subject: "sub-" + tag}
	must(t, s.CreateGrant(ctx, storage.Grant{ID: "grant-" + tag, ClientID: "c", Identity: id, Auth: auth("grant"),
		CreatedAt: now, AbsoluteExpiry: now.Add(time.Hour)}, &storage.RefreshToken{Hash: "rt-" + tag, GrantID: "grant-" + tag,
		CreatedAt: now, IdleExpiry: now.Add(time.Hour)}))
	must(t, s.CreateSession(ctx, storage.Session{ID: "sess-" + tag, Identity: id, Auth: auth("session"), CreatedAt: now,
		LastUsed: now, IdleExpiry: now.Add(time.Hour), AbsoluteExpiry: now.Add(time.Hour)}))
	must(t, s.CreateAuthCode(ctx, storage.AuthCode{Hash: "code-" + tag, ClientID: "c", Identity: id, Auth: auth("code"),
		GrantID: "grant-" + tag, CreatedAt: now, Expiry: now.Add(time.Hour)}))
	must(t, s.CreateAuthRequest(ctx, storage.AuthRequest{ID: "req-" + tag, ClientID: "c", MaxAge: -1, Identity: id,
		Auth: auth("request"), ConnectorState: connectorState(tag), CreatedAt: now, Expiry: now.Add(time.Hour)}))
}

// connectorState is what a redirect connector stashes at Begin (upstream state, PKCE
// verifier, nonce).
func connectorState(tag string) []byte {
	return []byte(`{"state":"st-` + tag + `","verifier":"PKCE-VERIFIER-marker-` + tag + `","nonce":"n-` + tag + `"}`)
}

// checkSecrets reads back what writeSecrets stored, in clear.
func checkSecrets(ctx context.Context, t *testing.T, s storage.Storage, now time.Time, tag string) {
	t.Helper()
	keys, err := s.ListSigningKeys(ctx)
	must(t, err)
	found := false
	for _, k := range keys {
		if k.ID == "key-"+tag {
			found = string(k.PrivateJWK) == `{"d":"PRIVATE-JWK-marker-`+tag+`"}`
		}
	}
	if !found {
		t.Errorf("signing key key-%s not read back in clear: %+v", tag, keys)
	}
	v, err := s.(storage.BlobStore).GetBlob(ctx, "saml-key-"+tag, now)
	if err != nil || string(v) != "BLOB-KEY-marker-"+tag {
		t.Errorf("GetBlob = %q, %v", v, err)
	}
	fs, err := s.(storage.MFAStore).ListMFAFactors(ctx, "user-"+tag)
	if err != nil || len(fs) != 1 || string(fs[0].Secret) != "TOTP-SECRET-marker-"+tag {
		t.Errorf("ListMFAFactors = %+v, %v", fs, err)
	}
	want := func(what string) string { return `{"refresh_token":"UPSTREAM-TOKEN-` + what + "-" + tag + `"}` }
	g, err := s.GetGrant(ctx, "grant-"+tag)
	if err != nil || string(g.Auth.ConnectorData) != want("grant") {
		t.Errorf("GetGrant connector data = %q, %v", g.Auth.ConnectorData, err)
	}
	sess, err := s.GetSession(ctx, "sess-"+tag)
	if err != nil || string(sess.Auth.ConnectorData) != want("session") {
		t.Errorf("GetSession connector data = %q, %v", sess.Auth.ConnectorData, err)
	}
	r, err := s.GetAuthRequest(ctx, "req-"+tag)
	if err != nil || string(r.Auth.ConnectorData) != want("request") {
		t.Errorf("GetAuthRequest connector data = %q, %v", r.Auth.ConnectorData, err)
	}
	if !bytes.Equal(r.ConnectorState, connectorState(tag)) {
		t.Errorf("GetAuthRequest connector state = %q", r.ConnectorState)
	}
}

// assertRawSealed reads every sealed column raw: no marker may appear, and every sealed value
// must be under keyID.
func assertRawSealed(ctx context.Context, t *testing.T, s storage.Storage, keyID string) {
	t.Helper()
	raw := s.(storage.RawColumns)
	for _, col := range storage.SealedColumns {
		rows, err := raw.RawPage(ctx, col, "", 1000)
		must(t, err)
		for _, r := range rows {
			for _, m := range sealMarkers {
				if bytes.Contains(r.Value, []byte(m)) {
					t.Errorf("%s holds %s in clear", storage.SealContext(col.Table, col.Column, r.Key), m)
				}
			}
			if !col.AuthJSON {
				if id, ok := seal.KeyID(r.Value); !ok || id != keyID {
					t.Errorf("%s sealed under %q (sealed %v), want %q", storage.SealContext(col.Table, col.Column, r.Key), id, ok, keyID)
				}
			}
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
