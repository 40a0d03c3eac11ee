package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunLocalPasswordUpdates runs the conformance tests of the optional
// storage.LocalPasswordUpdater. A backend that implements it calls this from its tests next
// to Run; for a backend that does not, the tests fail.
func RunLocalPasswordUpdates(t *testing.T, open func(t *testing.T) storage.Storage) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Storage, u storage.LocalPasswordUpdater)
	}{
		{"Replace", testPasswordReplace},
		{"StaleOldHash", testPasswordStale},
		{"MissingUser", testPasswordMissing},
		{"RaceOneWins", testPasswordRace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			tt.fn(t, s, implements[storage.LocalPasswordUpdater](t, s))
		})
	}
}

var pwT0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func createPWUser(t *testing.T, s storage.Storage, hash string) {
	t.Helper()
	err := s.CreateLocalUser(context.Background(), storage.LocalUser{Username: "ann", Email: "ann@example.com", Name: "Ann",
		Groups: []string{"staff"}, PasswordHash: hash, CreatedAt: pwT0, UpdatedAt: pwT0})
	if err != nil {
		t.Fatal(err)
	}
}

func storedHash(t *testing.T, s storage.Storage) storage.LocalUser {
	t.Helper()
	u, err := s.GetLocalUser(context.Background(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func testPasswordReplace(t *testing.T, s storage.Storage, u storage.LocalPasswordUpdater) {
	createPWUser(t, s, "$2a$04$old")
	later := pwT0.Add(time.Hour)
	if err := u.ReplaceLocalPasswordHash(context.Background(), "ann", "$2a$04$old", "$2a$10$new", later); err != nil {
		t.Fatal(err)
	}
	got := storedHash(t, s)
	if got.PasswordHash != "$2a$10$new" || !got.UpdatedAt.Equal(later) || got.Email != "ann@example.com" || len(got.Groups) != 1 {
		t.Errorf("after replace: %+v", got)
	}
}

func testPasswordStale(t *testing.T, s storage.Storage, u storage.LocalPasswordUpdater) {
	createPWUser(t, s, "$2a$10$changed-by-admin")
	err := u.ReplaceLocalPasswordHash(context.Background(), "ann", "$2a$04$old", "$2a$10$rehash-of-old", pwT0.Add(time.Hour))
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("replace with a stale hash: %v, want ErrConflict", err)
	}
	if got := storedHash(t, s); got.PasswordHash != "$2a$10$changed-by-admin" || !got.UpdatedAt.Equal(pwT0) {
		t.Errorf("a stale replace changed the user: %+v", got)
	}
}

func testPasswordMissing(t *testing.T, _ storage.Storage, u storage.LocalPasswordUpdater) {
	err := u.ReplaceLocalPasswordHash(context.Background(), "nobody", "a", "b", pwT0)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("replace for a missing user: %v, want ErrNotFound", err)
	}
}

func testPasswordRace(t *testing.T, s storage.Storage, u storage.LocalPasswordUpdater) {
	createPWUser(t, s, "$2a$04$old")
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins []string
		errs []error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := fmt.Sprintf("$2a$10$new-%d", i)
			err := u.ReplaceLocalPasswordHash(context.Background(), "ann", "$2a$04$old", h, pwT0.Add(time.Minute))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins = append(wins, h)
			case !errors.Is(err, storage.ErrConflict):
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 || len(wins) != 1 {
		t.Fatalf("%d winners %v, errors %v; want exactly one winner", len(wins), wins, errs)
	}
	if got := storedHash(t, s); got.PasswordHash != wins[0] {
		t.Errorf("stored %q, winner %q", got.PasswordHash, wins[0])
	}
}
