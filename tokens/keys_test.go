package tokens

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

func TestNewKeyManagerDefaults(t *testing.T) {
	tests := []struct {
		name        string
		opt         KeyOptions
		wantPublish time.Duration
	}{
		{"defaults", KeyOptions{}, time.Hour},
		{"short rotation", KeyOptions{RotationPeriod: time.Hour}, 6 * time.Minute},
		{"explicit", KeyOptions{RotationPeriod: time.Hour, PublishDelay: time.Minute}, time.Minute},
		{"publish delay too long", KeyOptions{RotationPeriod: time.Hour, PublishDelay: 2 * time.Hour}, 6 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			km := NewKeyManager(&memKeyStore{}, tt.opt)
			if km.opt.PublishDelay != tt.wantPublish {
				t.Errorf("PublishDelay = %v, want %v", km.opt.PublishDelay, tt.wantPublish)
			}
			if km.Ready() {
				t.Error("ready before Init")
			}
			if got := km.Algorithms(); len(got) != 1 {
				t.Errorf("Algorithms before Init = %v", got)
			}
		})
	}
}

func TestInitErrors(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name  string
		store *memKeyStore
		opt   KeyOptions
		want  error
	}{
		{"unsupported algorithm", &memKeyStore{}, KeyOptions{Algorithm: "HS256"}, nil},
		{"storage down", &memKeyStore{listErr: boom}, KeyOptions{}, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opt.Logger = testLogger(t)
			km := NewKeyManager(tt.store, tt.opt)
			err := km.Init(t.Context())
			if err == nil {
				t.Fatal("Init succeeded")
			}
			if tt.want != nil {
				mustErrorIs(t, err, tt.want)
			}
			if km.Ready() {
				t.Error("ready after failed Init")
			}
		})
	}
}

func TestFirstKeyActiveImmediately(t *testing.T) {
	clock := newClock()
	store := &memKeyStore{}
	km, _ := newTestMinter(t, store, clock, KeyOptions{Algorithm: AlgEdDSA})
	keys := store.snapshot()
	if len(keys) != 1 {
		t.Fatalf("stored %d keys, want 1", len(keys))
	}
	k := keys[0]
	if k.Algorithm != AlgEdDSA || k.ActiveFrom.After(clock.Now()) || !k.RetiredAt.IsZero() ||
		len(k.PrivateJWK) == 0 || len(k.PublicJWK) == 0 || k.ActiveFrom.Location() != time.UTC {
		t.Errorf("first key = %+v", k)
	}
	body, _ := km.JWKS()
	if got := keyIDs(t, body); !reflect.DeepEqual(got, []string{k.ID}) {
		t.Errorf("JWKS kids = %v", got)
	}
}

func TestRefreshCheapWhenUnchanged(t *testing.T) {
	clock := newClock()
	store := &memKeyStore{}
	km, _ := newTestMinter(t, store, clock, KeyOptions{Algorithm: AlgES256})
	body1, etag1 := km.JWKS()
	writes, calls := store.counts()
	for range 3 {
		clock.Advance(time.Minute)
		if err := km.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if w, c := store.counts(); w != writes || c != calls {
		t.Errorf("Refresh entered UpdateSigningKeys with nothing due: writes %d->%d calls %d->%d", writes, w, calls, c)
	}
	body2, etag2 := km.JWKS()
	if &body1[0] != &body2[0] || etag1 != etag2 {
		t.Error("JWKS rebuilt although nothing changed")
	}
}

// TestRotation walks one key's life with a pinned clock: the successor is published an hour
// before it signs, the old key stays published until every token it signed has expired
// (plus RetireGrace), then disappears from the JWKS and storage.
func TestRotation(t *testing.T) {
	clock := newClock()
	t0 := clock.Now()
	store := &memKeyStore{}
	opt := KeyOptions{Algorithm: AlgES256, RotationPeriod: 24 * time.Hour, MaxTokenLifetime: time.Hour}
	km, m := newTestMinter(t, store, clock, opt)
	replica, replicaM := newTestMinter(t, store, clock, opt)
	k1 := store.snapshot()[0].ID

	kidOf := func(m *Minter) string {
		t.Helper()
		tok, err := m.SignAccessToken(sampleAccessToken(clock.Now()))
		if err != nil {
			t.Fatal(err)
		}
		return header(t, tok).KeyID
	}
	refreshAll := func() { // each replica refreshes, a successor's generation finishes, again
		t.Helper()
		for round := range 2 {
			for _, k := range []*KeyManager{km, replica} {
				if err := k.Refresh(t.Context()); err != nil {
					t.Fatal(err)
				}
				if round == 0 {
					k.AwaitGeneration()
				}
			}
		}
	}
	jwksKids := func(k *KeyManager) []string {
		body, _ := k.JWKS()
		ids := keyIDs(t, body)
		slices.Sort(ids)
		return ids
	}

	// Not yet due.
	clock.Advance(23*time.Hour - time.Second)
	refreshAll()
	if n := len(store.snapshot()); n != 1 {
		t.Fatalf("rotated early: %d keys", n)
	}

	// Due: the successor is created and published, the old key still signs.
	clock.Advance(time.Second)
	_, etagBefore := km.JWKS()
	refreshAll()
	keys := store.snapshot()
	if len(keys) != 2 {
		t.Fatalf("%d keys after rotation, want 2", len(keys))
	}
	k2 := keys[1].ID
	if !keys[1].ActiveFrom.Equal(t0.Add(24 * time.Hour)) {
		t.Errorf("successor ActiveFrom = %v, want %v", keys[1].ActiveFrom, t0.Add(24*time.Hour))
	}
	want := []string{k1, k2}
	slices.Sort(want)
	for _, k := range []*KeyManager{km, replica} {
		if got := jwksKids(k); !reflect.DeepEqual(got, want) {
			t.Errorf("JWKS before activation = %v, want %v", got, want)
		}
	}
	if _, etag := km.JWKS(); etag == etagBefore {
		t.Error("ETag unchanged after the key set changed")
	}
	if got := kidOf(m); got != k1 {
		t.Errorf("signing with %s before the successor is active, want %s", got, k1)
	}
	oldHint, err := m.SignIDToken(IDToken{Subject: "u", Audience: "app", Expiry: clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}

	// Activation: both replicas switch on time, even before refreshing.
	clock.Advance(time.Hour)
	if got := kidOf(m); got != k2 {
		t.Errorf("signing with %s after activation, want %s", got, k2)
	}
	if got := kidOf(replicaM); got != k2 {
		t.Errorf("replica signing with %s after activation, want %s", got, k2)
	}
	refreshAll()
	keys = store.snapshot()
	if len(keys) != 2 || keys[0].ID != k1 || !keys[0].RetiredAt.Equal(t0.Add(24*time.Hour)) ||
		!keys[0].ExpiresAt.Equal(t0.Add(25*time.Hour+RetireGrace)) {
		t.Fatalf("after activation: %+v", keys)
	}

	// The retired key stays published until ExpiresAt.
	clock.Advance(time.Hour + RetireGrace - time.Second)
	refreshAll()
	if got := jwksKids(replica); !reflect.DeepEqual(got, want) {
		t.Errorf("JWKS just before expiry = %v, want %v", got, want)
	}
	if _, err := m.VerifyIDTokenHint(oldHint); err != nil {
		t.Errorf("hint signed by the retired key: %v", err)
	}

	// Then it is gone from the JWKS, from verification and from storage.
	clock.Advance(time.Second)
	refreshAll()
	for _, k := range []*KeyManager{km, replica} {
		if got := jwksKids(k); !reflect.DeepEqual(got, []string{k2}) {
			t.Errorf("JWKS after expiry = %v, want [%s]", got, k2)
		}
	}
	if _, err := m.VerifyIDTokenHint(oldHint); err == nil {
		t.Error("hint signed by an expired key accepted")
	}
	if keys := store.snapshot(); len(keys) != 1 || keys[0].ID != k2 {
		t.Errorf("storage after expiry: %+v", keys)
	}
}

func TestAlgorithmChange(t *testing.T) {
	clock := newClock()
	store := &memKeyStore{}
	opt := KeyOptions{Algorithm: AlgEdDSA, MaxTokenLifetime: time.Hour}
	_, _ = newTestMinter(t, store, clock, opt)

	clock.Advance(time.Minute)
	opt.Algorithm = AlgES256
	km, m := newTestMinter(t, store, clock, opt)
	keys := store.snapshot()
	if len(keys) != 2 || keys[1].Algorithm != AlgES256 || !keys[1].ActiveFrom.After(clock.Now()) {
		t.Fatalf("no prompt rotation to ES256: %+v", keys)
	}
	if got := km.Algorithms(); !reflect.DeepEqual(got, []string{AlgES256, AlgEdDSA}) {
		t.Errorf("Algorithms during the change = %v", got)
	}
	tok, err := m.SignAccessToken(sampleAccessToken(clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if alg := header(t, tok).Algorithm; alg != AlgEdDSA {
		t.Errorf("signed with %s before the new key is active", alg)
	}

	clock.Advance(km.opt.PublishDelay)
	if tok, err = m.SignAccessToken(sampleAccessToken(clock.Now())); err != nil {
		t.Fatal(err)
	}
	if alg := header(t, tok).Algorithm; alg != AlgES256 {
		t.Errorf("signed with %s after the new key is active", alg)
	}
	clock.Advance(time.Hour + RetireGrace)
	if err := km.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := km.Algorithms(); !reflect.DeepEqual(got, []string{AlgES256}) {
		t.Errorf("Algorithms after the change = %v", got)
	}
	if n := len(store.snapshot()); n != 1 {
		t.Errorf("%d keys after the old one expired", n)
	}
}

// TestPendingKeyOfOldAlgorithmRetired: a successor of the old algorithm is retired (not
// used) when the algorithm changes before it activates.
func TestPendingKeyOfOldAlgorithmRetired(t *testing.T) {
	clock := newClock()
	store := &memKeyStore{}
	opt := KeyOptions{Algorithm: AlgEdDSA, RotationPeriod: 10 * time.Hour, MaxTokenLifetime: time.Hour}
	_, _ = newTestMinter(t, store, clock, opt)
	clock.Advance(9 * time.Hour)
	_, _ = newTestMinter(t, store, clock, opt) // creates the EdDSA successor
	opt.Algorithm = AlgRS256
	km, m := newTestMinter(t, store, clock, opt)
	keys := store.snapshot()
	if len(keys) != 3 || keys[1].RetiredAt.IsZero() || keys[2].Algorithm != AlgRS256 {
		t.Fatalf("keys = %+v", keys)
	}
	clock.Advance(km.opt.PublishDelay)
	tok, err := m.SignIDToken(IDToken{Subject: "s", Audience: "a", Expiry: clock.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if h := header(t, tok); h.KeyID != keys[2].ID {
		t.Errorf("signed with %s, want the RS256 key %s", h.KeyID, keys[2].ID)
	}
}

func TestRotateExactlyOnceAcrossReplicas(t *testing.T) {
	for _, alg := range []string{AlgRS256, AlgEdDSA} {
		t.Run(alg, func(t *testing.T) {
			clock := newClock()
			store := &memKeyStore{}
			opt := KeyOptions{Algorithm: alg, Now: clock.Now, Logger: testLogger(t)}
			managers := []*KeyManager{NewKeyManager(store, opt), NewKeyManager(store, opt)}
			parallel := func(f func(*KeyManager) error) {
				t.Helper()
				var wg sync.WaitGroup
				errs := make([]error, len(managers))
				for i, k := range managers {
					wg.Go(func() { errs[i] = f(k) })
				}
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					t.Fatal(err)
				}
			}
			parallel(func(k *KeyManager) error { return k.Init(t.Context()) })
			if n := len(store.snapshot()); n != 1 {
				t.Fatalf("%d keys after concurrent Init, want 1", n)
			}
			clock.Advance(DefaultRotationPeriod)
			for range 3 {
				parallel(func(k *KeyManager) error { return k.Refresh(t.Context()) })
				for _, k := range managers {
					k.AwaitGeneration() // successors are generated in the background
				}
			}
			keys := store.snapshot()
			if len(keys) != 2 {
				t.Fatalf("%d keys after concurrent rotation, want 2", len(keys))
			}
			// Both replicas publish the same set.
			a, ea := managers[0].JWKS()
			b, eb := managers[1].JWKS()
			if string(a) != string(b) || ea != eb {
				t.Errorf("replicas publish different sets:\n%s\n%s", a, b)
			}
		})
	}
}

// flakyStore fails UpdateSigningKeys.
type flakyStore struct {
	*memKeyStore
}

func (flakyStore) UpdateSigningKeys(context.Context, func([]storage.SigningKey) ([]storage.SigningKey, bool, error)) error {
	return errors.New("database is locked")
}

func TestRefreshKeepsServingWhenUpdateFails(t *testing.T) {
	clock := newClock()
	mem := &memKeyStore{}
	newTestMinter(t, mem, clock, KeyOptions{Algorithm: AlgES256})
	clock.Advance(DefaultRotationPeriod) // due
	km := NewKeyManager(flakyStore{mem}, KeyOptions{Algorithm: AlgES256, Now: clock.Now, Logger: testLogger(t)})
	if err := km.Refresh(t.Context()); err == nil {
		t.Fatal("Refresh succeeded")
	}
	if !km.Ready() {
		t.Error("not serving the stored key after a failed update")
	}
}

func TestCorruptStoredKeySkipped(t *testing.T) {
	clock := newClock()
	store := &memKeyStore{}
	_, m := newTestMinter(t, store, clock, KeyOptions{Algorithm: AlgES256})
	store.mu.Lock()
	store.keys = append(store.keys, storage.SigningKey{ID: "bad", Algorithm: AlgES256, PrivateJWK: []byte(`{`),
		CreatedAt: clock.Now().Add(-time.Hour), ActiveFrom: clock.Now().Add(-time.Hour)})
	store.mu.Unlock()
	km2 := NewKeyManager(store, KeyOptions{Algorithm: AlgES256, Now: clock.Now, Logger: testLogger(t)})
	if err := km2.Refresh(t.Context()); err == nil {
		t.Error("corrupt key not reported")
	}
	if !km2.Ready() {
		t.Fatal("the good key is not loaded")
	}
	m2 := &Minter{Issuer: testIssuer, Keys: km2, Now: clock.Now}
	tok, err := m2.SignAccessToken(sampleAccessToken(clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.VerifyAccessToken(tok); err != nil {
		t.Error(err)
	}
}

func TestRunRefreshes(t *testing.T) {
	clock := newClock()
	store := &memKeyStore{}
	km, _ := newTestMinter(t, store, clock, KeyOptions{Algorithm: AlgEdDSA})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { km.Run(ctx, time.Millisecond); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		store.mu.Lock()
		n := store.lists
		store.mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not refresh")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
}

// TestRefreshLoadsWhileGenerating: while a replica generates its candidate successor (slow
// for RSA on a busy machine), its Refresh keeps loading what the store holds, so the key
// another replica committed is published and verified here before it activates. Attack on
// availability (HA key rotation): before, the loser sat in key generation past the publish
// delay and tokens signed by the winner's new key failed at this replica and in its JWKS.
func TestRefreshLoadsWhileGenerating(t *testing.T) {
	clock := newClock()
	store := &memKeyStore{}
	opt := KeyOptions{Algorithm: AlgES256, RotationPeriod: 24 * time.Hour, MaxTokenLifetime: time.Hour}
	winner, _ := newTestMinter(t, store, clock, opt)
	loser, _ := newTestMinter(t, store, clock, opt)
	release := make(chan struct{})
	t.Cleanup(func() { close(release); loser.AwaitGeneration() })
	slow := loser.generate
	loser.generate = func(alg string) (storage.SigningKey, error) {
		<-release // a generation that takes as long as the test wants
		return slow(alg)
	}
	clock.Advance(23 * time.Hour) // the successor is due
	done := make(chan error, 1)
	go func() { done <- loser.Refresh(t.Context()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Refresh waited for the key generation")
	}
	if err := winner.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	winner.AwaitGeneration()
	if err := winner.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	keys := store.snapshot()
	if len(keys) != 2 {
		t.Fatalf("%d keys after the winner's rotation, want 2", len(keys))
	}
	go func() { done <- loser.Refresh(t.Context()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Refresh waited for the key generation")
	}
	body, _ := loser.JWKS()
	ids := keyIDs(t, body)
	if !slices.Contains(ids, keys[1].ID) {
		t.Fatalf("the loser publishes %v, without the winner's new key %s", ids, keys[1].ID)
	}
}
