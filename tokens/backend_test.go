package tokens

import (
	"crypto"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/storage"
)

// fakeToken is a KeyBackend that keeps private keys in a map (as a token would), stores a
// KeyRef, and hands out signers go-jose does not know (so they sign through OpaqueSigner).
type fakeToken struct {
	mu        sync.Mutex
	keys      map[string]crypto.Signer
	destroyed []string
	failSign  bool
}

type wrappedSigner struct{ crypto.Signer }

func newFakeToken() *fakeToken { return &fakeToken{keys: map[string]crypto.Signer{}} }

func (f *fakeToken) Name() string { return "fake" }

func (f *fakeToken) Generate(alg string) (storage.SigningKey, error) {
	rec, err := generateKey(alg)
	if err != nil {
		return rec, err
	}
	signer, err := StorageBackend{}.Signer(rec)
	if err != nil {
		return rec, err
	}
	f.mu.Lock()
	f.keys[rec.ID] = signer
	f.mu.Unlock()
	return PublicRecord(rec.ID, alg, signer.Public(), KeyRef{Backend: "fake", Label: "gh-" + rec.ID, ID: rec.ID})
}

func (f *fakeToken) Owns(r storage.SigningKey) bool {
	ref, ok := ParseKeyRef(r.PrivateJWK)
	return ok && ref.Backend == "fake"
}

func (f *fakeToken) Signer(r storage.SigningKey) (crypto.Signer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.keys[r.ID]
	if !ok || f.failSign {
		return nil, errors.New("not in the token")
	}
	return wrappedSigner{s}, nil
}

func (f *fakeToken) Destroy(r storage.SigningKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.keys, r.ID)
	f.destroyed = append(f.destroyed, r.ID)
	return nil
}

func (f *fakeToken) ids() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bool{}
	for id := range f.keys {
		out[id] = true
	}
	return out
}

// verifyWithJWKS verifies a compact JWS against the manager's published JWKS.
func verifyWithJWKS(t *testing.T, km *KeyManager, tok string) {
	t.Helper()
	body, _ := km.JWKS()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(jws.Signatures[0].Protected.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not published once in %s", jws.Signatures[0].Protected.KeyID, body)
	}
	if _, err := jws.Verify(keys[0]); err != nil {
		t.Fatalf("verify with the JWKS: %v", err)
	}
}

func TestBackendKeepsPrivateKeys(t *testing.T) {
	for _, alg := range []string{AlgRS256, AlgES256, AlgEdDSA} {
		t.Run(alg, func(t *testing.T) {
			clock, store, tok := newClock(), &memKeyStore{}, newFakeToken()
			km, m := newTestMinter(t, store, clock, KeyOptions{Algorithm: alg, Backend: tok})
			keys := store.snapshot()
			if len(keys) != 1 {
				t.Fatalf("%d keys", len(keys))
			}
			if ref, ok := ParseKeyRef(keys[0].PrivateJWK); !ok || ref.ID != keys[0].ID {
				t.Errorf("stored private half %s, want a reference", keys[0].PrivateJWK)
			}
			if strings.Contains(string(keys[0].PrivateJWK), `"d"`) || strings.Contains(string(keys[0].PublicJWK), `"d"`) {
				t.Errorf("private key material in storage: %s %s", keys[0].PrivateJWK, keys[0].PublicJWK)
			}
			id, err := m.SignIDToken(IDToken{Subject: "s", Audience: "a", Expiry: clock.Now().Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			verifyWithJWKS(t, km, id)
			at, err := m.SignAccessToken(sampleAccessToken(clock.Now()))
			if err != nil {
				t.Fatal(err)
			}
			verifyWithJWKS(t, km, at)
			if _, err := m.VerifyAccessToken(at); err != nil {
				t.Errorf("VerifyAccessToken: %v", err)
			}
		})
	}
}

func TestBackendDestroysExpiredAndLosingKeys(t *testing.T) {
	clock, store, tok := newClock(), &memKeyStore{}, newFakeToken()
	opt := KeyOptions{Algorithm: AlgES256, Now: clock.Now, Logger: testLogger(t), Backend: tok}
	replicas := []*KeyManager{NewKeyManager(store, opt), NewKeyManager(store, opt), NewKeyManager(store, opt)}
	each := func(f func(*KeyManager) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, len(replicas))
		for i, k := range replicas {
			wg.Go(func() { errs[i] = f(k) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	stored := func() map[string]bool {
		out := map[string]bool{}
		for _, k := range store.snapshot() {
			out[k.ID] = true
		}
		return out
	}
	sameSet := func(when string) {
		t.Helper()
		if got, want := tok.ids(), stored(); len(got) != len(want) {
			t.Errorf("%s: token holds %v, storage %v", when, got, want)
		} else {
			for id := range want {
				if !got[id] {
					t.Errorf("%s: stored key %s missing from the token", when, id)
				}
			}
		}
	}
	refresh := func() {
		t.Helper()
		for range 3 {
			each(func(k *KeyManager) error { return k.Refresh(t.Context()) })
			for _, k := range replicas {
				k.AwaitGeneration() // successors are generated in the background
			}
		}
	}
	each(func(k *KeyManager) error { return k.Init(t.Context()) })
	sameSet("after Init")
	first := store.snapshot()[0].ID
	clock.Advance(DefaultRotationPeriod)
	refresh()
	if n := len(store.snapshot()); n != 2 {
		t.Fatalf("%d keys after rotation, want 2", n)
	}
	sameSet("after rotation") // losers' successors destroyed
	clock.Advance(time.Hour)  // the successor signs; the first key is retired
	refresh()
	clock.Advance(DefaultMaxTokenLifetime + RetireGrace)
	refresh()
	if stored()[first] || tok.ids()[first] {
		t.Errorf("expired key %s still stored or in the token", first)
	}
	sameSet("after expiry")
}

func TestBackendSwitchRetiresOtherBackendsKeys(t *testing.T) {
	clock, store := newClock(), &memKeyStore{}
	_, m0 := newTestMinter(t, store, clock, KeyOptions{Algorithm: AlgES256})
	old, err := m0.SignIDToken(IDToken{Subject: "s", Audience: "a", Expiry: clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	tok := newFakeToken()
	km, m := newTestMinter(t, store, clock, KeyOptions{Algorithm: AlgES256, Backend: tok})
	keys := store.snapshot()
	if len(keys) != 2 || keys[0].RetiredAt.IsZero() || !tok.Owns(keys[1]) {
		t.Fatalf("keys after the switch = %+v", keys)
	}
	fresh, err := m.SignIDToken(IDToken{Subject: "s", Audience: "a", Expiry: clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if h := header(t, fresh); h.KeyID != keys[1].ID {
		t.Errorf("signed with %s, want the token's key %s at once", h.KeyID, keys[1].ID)
	}
	verifyWithJWKS(t, km, old) // the storage key still verifies until it expires
	if _, err := m.VerifyIDTokenHint(old); err != nil {
		t.Errorf("token of the storage key: %v", err)
	}
}

func TestBackendSignerMissing(t *testing.T) {
	clock, store, tok := newClock(), &memKeyStore{}, newFakeToken()
	newTestMinter(t, store, clock, KeyOptions{Algorithm: AlgES256, Backend: tok})
	tok.failSign = true
	km := NewKeyManager(store, KeyOptions{Algorithm: AlgES256, Now: clock.Now, Logger: testLogger(t), Backend: tok})
	if err := km.Init(t.Context()); err == nil || !strings.Contains(err.Error(), "not in the token") {
		t.Errorf("Init with the key missing from the token: %v", err)
	}
}

func TestParseKeyRef(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{"backend":"pkcs11","label":"gh-x","id":"eA"}`, true},
		{`{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"c"}`, false},
		{`{"backend":""}`, false},
		{``, false},
		{`{`, false},
		{`null`, false},
		{`{"backend":1}`, false},
	}
	for _, tt := range tests {
		if _, ok := ParseKeyRef([]byte(tt.in)); ok != tt.want {
			t.Errorf("ParseKeyRef(%q) = %v, want %v", tt.in, ok, tt.want)
		}
	}
}

func FuzzParseKeyRef(f *testing.F) {
	f.Add([]byte(`{"backend":"pkcs11","label":"gh-x","id":"eA"}`))
	f.Add([]byte(`{"kty":"RSA"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ref, ok := ParseKeyRef(b)
		if ok && ref.Backend == "" {
			t.Fatalf("accepted %q without a backend", b)
		}
		if ok {
			out, err := ref.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if again, ok := ParseKeyRef(out); !ok || again != ref {
				t.Fatalf("round trip %q -> %q", b, out)
			}
		}
	})
}
