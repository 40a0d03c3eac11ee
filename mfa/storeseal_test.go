package mfa

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestStoreSeals: with a sealing store (secrets.keys) a TOTP secret is sealed once, by the
// store, and never in the database file in clear; a factor enrolled earlier, sealed by the
// service under mfa.secrets_key, still verifies; a factor sealed under another secrets_key
// is an error, not taken for a clear secret.
func TestStoreSeals(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mfa.db")
	clk := &testClock{t: time.Now().Truncate(time.Hour).Add(7 * time.Second)}
	open := func(sl storage.Sealer, storeSeals bool, key string) (*Service, storage.Storage) {
		st, err := sqlite.Open(ctx, path, slog.New(slog.DiscardHandler), sqlite.WithSealer(sl))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		s, err := New(Options{Store: st, SecretsKey: key, StoreSeals: storeSeals, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s, st
	}
	enrol := func(s *Service, id string) string {
		u := User{ID: id, Name: id}
		setup, err := s.BeginTOTP(u)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.FinishTOTP(ctx, u, setup.State, "Phone", code(t, setup.Secret, clk.Now())); err != nil {
			t.Fatal(err)
		}
		return setup.Secret
	}
	old, _ := open(nil, false, testKey) // before secrets.keys: the service seals
	oldSecret := enrol(old, "legacy")
	otherKey, _ := open(nil, false, testKey+"-other")
	enrol(otherKey, "foreign")

	keys := storagetest.TestKeyring(t, "k1")
	s, st := open(keys, true, testKey)
	newSecret := enrol(s, "fresh")
	fs, err := st.(storage.MFAStore).ListMFAFactors(ctx, "fresh")
	if err != nil || len(fs) != 1 || string(fs[0].Secret) != newSecret {
		t.Fatalf("the store returns the secret it sealed: %+v, %v", fs, err)
	}
	raw, err := st.(storage.RawColumns).RawPage(ctx, storage.SealedColumn{Table: "mfa_factors", Column: "secret", Key: "id"}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range raw {
		if bytes.Contains(r.Value, []byte(newSecret)) {
			t.Errorf("mfa_factors/%s holds the TOTP secret in clear", r.Key)
		}
	}

	clk.Advance(30 * time.Second)
	if err := s.VerifyTOTP(ctx, "fresh", code(t, newSecret, clk.Now())); err != nil {
		t.Errorf("VerifyTOTP of a store-sealed factor: %v", err)
	}
	if err := s.VerifyTOTP(ctx, "legacy", code(t, oldSecret, clk.Now())); err != nil {
		t.Errorf("VerifyTOTP of a factor the service sealed before: %v", err)
	}
	// Its use moved it under the store's sealing: the store now returns the secret itself.
	if fs, err := st.(storage.MFAStore).ListMFAFactors(ctx, "legacy"); err != nil || len(fs) != 1 || string(fs[0].Secret) != oldSecret {
		t.Errorf("legacy factor after use = %+v, %v; want its secret moved to the store's sealing", fs, err)
	}
	clk.Advance(30 * time.Second)
	if err := s.VerifyTOTP(ctx, "legacy", code(t, oldSecret, clk.Now())); err != nil {
		t.Errorf("VerifyTOTP of the moved factor: %v", err)
	}
	if err := s.VerifyTOTP(ctx, "foreign", "123456"); err == nil || errors.Is(err, ErrInvalidCode) {
		t.Errorf("VerifyTOTP of a factor sealed under another secrets_key = %v, want an error opening it", err)
	}
}

// failingSecretUpdate is a sealing store whose UpdateMFAFactorSecret fails, as a database
// that is unreachable for a moment does.
type failingSecretUpdate struct {
	*sqlite.Store
}

func (failingSecretUpdate) UpdateMFAFactorSecret(context.Context, string, string, []byte) error {
	return errors.New("database unreachable (test)")
}

// TestMoveToStoreSealingFailureIsLogged: when moving a legacy-sealed secret to the store's
// sealing fails, the login still succeeds, the factor is left as it was (readable, moved at
// its next use), and the failure is logged rather than dropped.
func TestMoveToStoreSealingFailureIsLogged(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mfa.db")
	clk := &testClock{t: time.Now().Truncate(time.Hour).Add(7 * time.Second)}
	plain, err := sqlite.Open(ctx, path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	old, err := New(Options{Store: plain, SecretsKey: testKey, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	u := User{ID: "legacy", Name: "legacy"}
	setup, err := old.BeginTOTP(u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.FinishTOTP(ctx, u, setup.State, "Phone", code(t, setup.Secret, clk.Now())); err != nil {
		t.Fatal(err)
	}
	plain.Close()
	st, err := sqlite.Open(ctx, path, slog.New(slog.DiscardHandler), sqlite.WithSealer(storagetest.TestKeyring(t, "k1")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var logs bytes.Buffer
	s, err := New(Options{Store: failingSecretUpdate{st}, SecretsKey: testKey, StoreSeals: true, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Second)
	if err := s.VerifyTOTP(ctx, "legacy", code(t, setup.Secret, clk.Now())); err != nil {
		t.Fatalf("VerifyTOTP with the move failing: %v", err)
	}
	if !bytes.Contains(logs.Bytes(), []byte("database unreachable")) {
		t.Errorf("the failed move was not logged:\n%s", logs.String())
	}
	fs, err := st.ListMFAFactors(ctx, "legacy")
	if err != nil || len(fs) != 1 || len(fs[0].Secret) == 0 || fs[0].Secret[0] != sealVersion {
		t.Errorf("factor after the failed move = %+v, %v; want it left sealed by the service", fs, err)
	}
}
